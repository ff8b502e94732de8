// The committed ABIs in contracts/abi/ must match the compiled contracts.
const { expect } = require("chai");
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");
const { CONTRACTS, render, root } = require("../scripts/export-abi");

describe("committed ABI files", function () {
  for (const name of CONTRACTS) {
    it(`abi/${name}.abi.json matches the compiled ${name}`, async function () {
      const { abi } = await hre.artifacts.readArtifact(name);
      const file = path.join(root, "abi", `${name}.abi.json`);
      const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
      expect(committed, `abi/${name}.abi.json is stale: run 'node scripts/export-abi.js'`).to.equal(render(abi));
    });
  }
});
