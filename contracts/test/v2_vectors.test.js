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
    for (const v of vec.rolesSeed) expect(h.rolesSeed(v.first, v.participants, v.proposerBps)).to.equal(v.seed);
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
    const first = ethers.keccak256(ethers.solidityPacked(["bytes32", "uint256", "uint256"], [bh, taskId, d.round]));
    expect(r.seed).to.equal(h.rolesSeed(first, d.parts, 5000n));
    const by = (a) => ctx.signers.find((s) => s.address === a);
    for (const p of d.proposers) await v2.connect(by(p.addr)).commitUpdate(taskId, d.round, ethers.id(`u ${p.index}`));
    const inc = [d.proposers[d.proposers.length - 1], d.proposers[0]]; // any order in, index order out
    await v2.connect(aggregator).postCandidate(taskId, d.round, ethers.id("m"), h.bitmap(inc.map((p) => p.index), d.parts.length));
    const want = ethers.keccak256(ethers.concat([...inc].sort((a, b) => a.index - b.index).map((p) => ethers.id(`u ${p.index}`))));
    expect((await v2.getRound(taskId, d.round)).includedHash).to.equal(want);
  });

  it("a draw that gave every participant one role is drawn again: every round has a proposer and a voter", async function () {
    // Two members at proposerBps 5000: half the first draws give both one role. Rounds are
    // opened (and left to expire) until a redraw was seen; every round has both roles.
    const ctx = await h.deployV2();
    const { v2, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx);
    for (const n of nodes.slice(0, 2)) await h.stakeJoin(ctx, taskId, n, 1000n);
    let redrawn = 0;
    for (let k = 0; k < 40 && redrawn === 0; ++k) {
      const d = await h.openAndDraw(ctx, taskId);
      const r = await v2.getRound(taskId, d.round);
      const bh = (await ethers.provider.getBlock(Number(r.seedBlock))).hash;
      const first = ethers.keccak256(ethers.solidityPacked(["bytes32", "uint256", "uint256"], [bh, taskId, d.round]));
      expect(r.seed).to.equal(h.rolesSeed(first, d.parts, 5000n));
      expect(d.proposers.length).to.equal(1);
      expect(d.voters.length).to.equal(1);
      expect(r.proposerCount).to.equal(1n);
      expect(r.voterCount).to.equal(1n);
      if (r.seed !== first) ++redrawn;
      const now = BigInt((await ethers.provider.getBlock("latest")).timestamp);
      await h.increase(r.postDeadline - now + 1n);
      await v2.connect(nodes[3]).abandonRound(taskId);
    }
    expect(redrawn).to.equal(1);
  });
});
