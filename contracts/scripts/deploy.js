// Deploys MockToken and AllianceTask to the selected network and writes their addresses as JSON
// for murmurd and the murmur CLI:
//   { "chainId", "network", "token", "allianceTask", "deployer", "blockNumber", "deployedAt" }
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

  const out = process.env.MURMUR_DEPLOY_OUT || path.join(__dirname, "..", "deployments", `${hre.network.name}.json`);
  const record = {
    chainId: Number(chainId),
    network: hre.network.name,
    token: await token.getAddress(),
    allianceTask: await alliance.getAddress(),
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
  console.log(`chain id ${record.chainId}, deployer ${record.deployer}`);
  console.log(`wrote ${path.resolve(out)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
