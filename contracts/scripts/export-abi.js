// Writes the ABIs of the deployable contracts to contracts/abi/*.abi.json (committed), so that the
// C++ side and other tools need neither node_modules nor a compile. test/abi.test.js fails when they
// drift from the sources:  npx hardhat compile && node scripts/export-abi.js
const fs = require("fs");
const path = require("path");

const CONTRACTS = ["AllianceTask", "AllianceTaskV2", "MockToken"];
const root = path.join(__dirname, "..");

function abiOf(name) {
  const artifact = path.join(root, "artifacts", "contracts", `${name}.sol`, `${name}.json`);
  if (!fs.existsSync(artifact)) throw new Error(`${artifact} missing: run 'npx hardhat compile' first`);
  return JSON.parse(fs.readFileSync(artifact, "utf8")).abi;
}

function render(abi) {
  return JSON.stringify(abi, null, 2) + "\n";
}

if (require.main === module) {
  fs.mkdirSync(path.join(root, "abi"), { recursive: true });
  for (const name of CONTRACTS) {
    const out = path.join(root, "abi", `${name}.abi.json`);
    fs.writeFileSync(out, render(abiOf(name)));
    console.log(`wrote ${path.relative(root, out)}`);
  }
}

module.exports = { CONTRACTS, abiOf, render, root };
