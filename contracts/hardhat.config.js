// Hardhat 2 configuration for the Murmuration contracts.
//
// The compiler is the npm `solc` package (solc-js, pinned in package.json), never a download:
// Hardhat would otherwise fetch a native solc from binaries.soliditylang.org on first compile.
// We override the subtask that resolves a compiler build so that it returns solc/soljson.js,
// and refuse any other version instead of silently falling back to a download.

require("@nomicfoundation/hardhat-ethers");
require("@nomicfoundation/hardhat-chai-matchers");

const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = require("solc/package.json").version; // e.g. "0.8.28"

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async ({ solcVersion }) => {
  if (solcVersion !== SOLC_VERSION) {
    throw new Error(
      `hardhat.config.js: solidity version ${solcVersion} requested but only the npm solc ` +
        `${SOLC_VERSION} is available offline; change solidity.version or the solc pin in package.json`
    );
  }
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: solc.version(), // e.g. "0.8.28+commit.7893614a.Emscripten.clang"
  };
});

// Hardhat derives each of its 130 test accounts from the mnemonic from scratch: BIP-39's PBKDF2
// (2048 rounds of HMAC-SHA512, in JavaScript) and the four hardened levels of m/44'/60'/0'/0, once
// per account, and `hardhat node` twice (the provider, then the accounts it prints): 2-5 s of
// every `hardhat test` and every `hardhat node` (each chain test in ctest starts one). The same
// derivation with the seed and the path's parent key kept: same keys, same order.
{
  const derivation = require.resolve("hardhat/internal/util/keys-derivation");
  const keys = require(derivation);
  const fromHardhat = require("module").createRequire(derivation); // hardhat's own copies
  const { mnemonicToSeedSync } = fromHardhat("ethereum-cryptography/bip39");
  const { HDKey } = fromHardhat("ethereum-cryptography/hdkey");
  const parents = new Map();
  keys.deriveKeyFromMnemonicAndPath = (mnemonic, hdPath, passphrase) => {
    const cut = hdPath.lastIndexOf("/");
    const parentPath = hdPath.slice(0, cut);
    const index = hdPath.slice(cut + 1);
    const key = `${mnemonic.trim()}\n${passphrase}\n${parentPath}`;
    if (!parents.has(key))
      parents.set(key, HDKey.fromMasterSeed(mnemonicToSeedSync(mnemonic.trim(), passphrase)).derive(parentPath));
    const parent = parents.get(key);
    const derived = /^[0-9]+$/.test(index) ? parent.deriveChild(Number(index)) : parent.derive(`m/${index}`);
    return derived.privateKey === null ? undefined : Buffer.from(derived.privateKey);
  };
}

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    compilers: [
      {
        version: SOLC_VERSION,
        settings: {
          optimizer: { enabled: true, runs: 200 },
          // cancun: transient storage and mcopy are available; every chain we target has it.
          evmVersion: "cancun",
        },
      },
    ],
    overrides: {
      // AllianceTaskV2 (with its MedianSettlement library inlined) fits the 24 KiB code-size
      // limit (EIP-170) only through the IR pipeline (22.1 KB; 26.9 KB without it).
      "contracts/AllianceTaskV2.sol": {
        version: SOLC_VERSION,
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true },
      },
      // ArenaTask (with ArenaSettlement inlined) needs the IR pipeline too: its settlement input
      // and output structs exceed the legacy pipeline's stack, and IR keeps it under 24 KiB.
      "contracts/ArenaTask.sol": {
        version: SOLC_VERSION,
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true },
      },
      "contracts/test/ArenaSettlementHarness.sol": {
        version: SOLC_VERSION,
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true },
      },
    },
  },
  networks: {
    hardhat: {
      // MURMUR_HARDHAT_CHAIN_ID: a node standing for a chain that is not a development chain
      // (`murmur chain deploy` then requires --token; tests/chain/deploy_cli_test.cpp).
      chainId: Number(process.env.MURMUR_HARDHAT_CHAIN_ID || 31337),
      // Enough funded accounts for the gas test with 100 voters plus proposers, creator, aggregator.
      accounts: { count: 130 },
    },
    localhost: {
      // scripts/chain.sh starts `hardhat node` here; MURMUR_CHAIN_PORT moves both (loopback only).
      url: `http://127.0.0.1:${process.env.MURMUR_CHAIN_PORT || 8545}`,
      chainId: 31337,
    },
  },
  mocha: {
    timeout: 300000,
  },
};
