// Deploys ArenaTask and ArenaEmission (issue 17) with MockToken (or the ERC-20 at $MURMUR_TOKEN)
// and writes their addresses in the format `murmur arena` reads (--arena-deployment):
//   { "chainId", "network", "token", "arenaTask", "arenaEmission", "deployer", "blockNumber",
//     "deployedAt" }   (blockNumber: ArenaTask's deployment block)
// Output path: $MURMUR_ARENA_DEPLOY_OUT, default contracts/deployments/arena-<network>.json.
// ArenaEmission's perDay: $MURMUR_ARENA_PER_DAY base units (default 1000 · 10^18); its owner is the
// deployer, who registers tasks (registerTask) and anyone funds it (fund).
//
//   npx hardhat run scripts/deploy-arena.js --network localhost
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");

async function main() {
  const { ethers } = hre;
  const [deployer] = await ethers.getSigners();
  const { chainId } = await ethers.provider.getNetwork();
  let token = process.env.MURMUR_TOKEN;
  if (!token) {
    if (Number(chainId) !== 31337 && Number(chainId) !== 1337)
      throw new Error(`chain ${chainId} is not a development chain: set MURMUR_TOKEN to the ERC-20 tasks use`);
    const mock = await (await ethers.getContractFactory("MockToken")).deploy();
    await mock.waitForDeployment();
    token = await mock.getAddress();
  }
  const arena = await (await ethers.getContractFactory("ArenaTask")).deploy();
  const receipt = await arena.deploymentTransaction().wait();
  const perDay = BigInt(process.env.MURMUR_ARENA_PER_DAY || (1000n * 10n ** 18n).toString());
  const emission = await (await ethers.getContractFactory("ArenaEmission")).deploy(token, perDay, deployer.address);
  await emission.waitForDeployment();

  const out = process.env.MURMUR_ARENA_DEPLOY_OUT || path.join(__dirname, "..", "deployments", `arena-${hre.network.name}.json`);
  const record = {
    chainId: Number(chainId),
    network: hre.network.name,
    token,
    arenaTask: await arena.getAddress(),
    arenaEmission: await emission.getAddress(),
    deployer: deployer.address,
    blockNumber: receipt.blockNumber,
    deployedAt: new Date().toISOString(),
  };
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2) + "\n");
  fs.renameSync(tmp, out);
  console.log(`token         ${record.token}`);
  console.log(`ArenaTask     ${record.arenaTask}`);
  console.log(`ArenaEmission ${record.arenaEmission} (perDay ${perDay})`);
  console.log(`wrote ${path.resolve(out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
