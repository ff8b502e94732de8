// Deploys MockToken, AllianceTask and AllianceTaskV2 (issue 16; murmurd does not call it yet) to the
// selected network and writes their addresses as JSON for murmurd and the murmur CLI:
//   { "chainId", "network", "token", "allianceTask", "allianceTaskV2", "deployer", "blockNumber",
//     "deployedAt" }   (blockNumber: AllianceTask's deployment block)
// Output path: $MURMUR_DEPLOY_OUT, default contracts/deployments/<network>.json
// (contracts/deployments/localhost.json for --network localhost).
//
//   npx hardhat run scripts/deploy.js --network localhost
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");

async function main() {
  const { ethers } = hre;
  const [deployer] = await ethers.getSigners();
  const { chainId } = await ethers.provider.getNetwork();

  const token = await (await ethers.getContractFactory("MockToken")).deploy();
  await token.waitForDeployment();
  const alliance = await (await ethers.getContractFactory("AllianceTask")).deploy();
  const receipt = await alliance.deploymentTransaction().wait();
  // Deployed after AllianceTask so that the token's and AllianceTask's addresses do not move.
  const v2 = await (await ethers.getContractFactory("AllianceTaskV2")).deploy();
  await v2.waitForDeployment();

  const out = process.env.MURMUR_DEPLOY_OUT || path.join(__dirname, "..", "deployments", `${hre.network.name}.json`);
  const record = {
    chainId: Number(chainId),
    network: hre.network.name,
    token: await token.getAddress(),
    allianceTask: await alliance.getAddress(),
    allianceTaskV2: await v2.getAddress(),
    deployer: deployer.address,
    blockNumber: receipt.blockNumber,
    deployedAt: new Date().toISOString(),
  };
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2) + "\n");
  fs.renameSync(tmp, out); // readers never see a half-written file
  console.log(`MockToken     ${record.token}`);
  console.log(`AllianceTask  ${record.allianceTask}`);
  console.log(`AllianceTaskV2 ${record.allianceTaskV2}`);
  console.log(`chain id ${record.chainId}, deployer ${record.deployer}`);
  console.log(`wrote ${path.resolve(out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
