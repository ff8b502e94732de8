// The soak's Hardhat node (tests/soak/soak.py): contracts/hardhat.config.js with the genesis
// block's time fixed (MURMUR_SOAK_GENESIS, an ISO date), so that a node killed and started again
// rebuilds the same chain when the harness replays its journal: same genesis, same transactions
// in the same blocks at the same timestamps, hence the same block hashes (and round seeds).
const path = require("path");
const base = require("../../contracts/hardhat.config.js");

module.exports = {
  ...base,
  paths: { ...(base.paths || {}), root: path.join(__dirname, "..", "..", "contracts") },
  networks: {
    ...base.networks,
    hardhat: { ...base.networks.hardhat, initialDate: process.env.MURMUR_SOAK_GENESIS },
  },
};
