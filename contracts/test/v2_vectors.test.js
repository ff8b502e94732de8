// test/v2_vectors.json (the hashes a client of AllianceTaskV2 computes) against the contract:
// voteCommitment vectors through its view; the seed and includedHash formulas on a live round.
// tests/chain/median_settlement_test.cpp checks chain/src/v2_commitments.cpp on the same file.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const h = require("./helpersV2");
const vec = require("./v2_vectors.json");

describe("v2_vectors.json", function () {
  it("vote commitments equal the contract's voteCommitment", async function () {
    const v2 = await (await ethers.getContractFactory("AllianceTaskV2")).deploy();
    expect(vec.format).to.equal("murmuration-v2-vectors/1");
    for (const v of vec.voteCommitment) {
      expect(await v2.voteCommitment(v.taskId, v.round, v.voter, v.score, v.objections, v.salt)).to.equal(v.commitment);
      expect(h.commitmentOf(v.taskId, v.round, v.voter, v.score, v.objections, v.salt)).to.equal(v.commitment);
    }
  });

  it("seed, includedHash and bitmap vectors follow the formulas", function () {
    for (const s of vec.seed)
      expect(ethers.keccak256(ethers.solidityPacked(["bytes32", "uint256", "uint256"], [s.blockHash, s.taskId, s.round]))).to.equal(s.seed);
    for (const i of vec.includedHash) expect(ethers.keccak256(ethers.concat(i.updateHashes))).to.equal(i.includedHash);
    for (const b of vec.bitmap) expect(h.bitmap(b.indices, b.count).map(String)).to.deep.equal(b.words);
  });

  it("a live round: the contract's seed and includedHash are these formulas", async function () {
    const ctx = await h.deployV2();
    const { v2, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx);
    for (const n of nodes.slice(0, 6)) await h.stakeJoin(ctx, taskId, n, 1000n);
    const d = await h.drawUntil(ctx, taskId, (d) => d.proposers.length >= 2);
    const r = await v2.getRound(taskId, d.round);
    const bh = (await ethers.provider.getBlock(Number(r.seedBlock))).hash;
    expect(r.seed).to.equal(ethers.keccak256(ethers.solidityPacked(["bytes32", "uint256", "uint256"], [bh, taskId, d.round])));
    const by = (a) => ctx.signers.find((s) => s.address === a);
    for (const p of d.proposers) await v2.connect(by(p.addr)).commitUpdate(taskId, d.round, ethers.id(`u ${p.index}`));
    const inc = [d.proposers[d.proposers.length - 1], d.proposers[0]]; // any order in, index order out
    await v2.connect(aggregator).postCandidate(taskId, d.round, ethers.id("m"), h.bitmap(inc.map((p) => p.index), d.parts.length));
    const want = ethers.keccak256(ethers.concat([...inc].sort((a, b) => a.index - b.index).map((p) => ethers.id(`u ${p.index}`))));
    expect((await v2.getRound(taskId, d.round)).includedHash).to.equal(want);
  });
});
