// Runs the shared table test/consensus_cases.json against the contract (and against the JS
// reference model in helpers.js). The C++ tests run the same table against chain/.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { deploy, createTask, stakeAndJoin, signVote, startRoundWithRoles, settle } = require("./helpers");

const table = require("./consensus_cases.json");

function asModelInput(c) {
  return {
    pool: BigInt(c.pool),
    roundsLeft: BigInt(c.roundsLeft),
    slashBps: BigInt(c.slashBps),
    nodes: c.nodes.map((n) => ({ ...n, stake: BigInt(n.stake), vote: n.vote ?? 0, flagged: !!n.flagged })),
  };
}

function stringify(e) {
  return JSON.parse(JSON.stringify(e, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
}

describe("consensus_cases.json", function () {
  it("is well-formed", function () {
    expect(table.format).to.equal("murmuration-consensus-cases/1");
    expect(table.cases.length).to.be.greaterThan(5);
    for (const c of table.cases) {
      const ids = new Set();
      for (const n of c.nodes) {
        expect(ids.has(n.id), `${c.name}: duplicate id ${n.id}`).to.equal(false);
        ids.add(n.id);
        expect(["proposer", "voter"]).to.include(n.role);
        if (n.role === "voter") expect([1, -1, 0]).to.include(n.vote);
        else expect(typeof n.flagged).to.equal("boolean");
      }
      expect(Object.keys(c.expected.nodes).sort()).to.deep.equal([...ids].sort());
    }
  });

  for (const c of table.cases) {
    describe(c.name, function () {
      it("JS reference model agrees with the table", function () {
        const e = stringify(settle(asModelInput(c)));
        const want = c.expected;
        expect(e.voteSum).to.equal(want.voteSum);
        expect(e.accepted ? "accepted" : "rejected").to.equal(want.outcome);
        for (const k of ["roundReward", "paid", "slashed", "toPool", "toCreator", "poolAfter", "creatorCredit"]) {
          expect(e[k], k).to.equal(want[k]);
        }
        expect(e.nodes).to.deep.equal(want.nodes);
      });

      it("contract settles the round as the table says", async function () {
        const ctx = await loadFixture(deploy);
        const { alliance, aggregator, nodes: signers } = ctx;
        const taskId = await createTask(ctx, {
          rewardPool: BigInt(c.pool),
          totalRounds: BigInt(c.roundsLeft),
          minStake: 1n,
          proposerBps: BigInt(c.proposerBps),
          slashBps: BigInt(c.slashBps),
        });
        const byId = {};
        c.nodes.forEach((n, i) => (byId[n.id] = { ...n, signer: signers[i], stake: BigInt(n.stake) }));
        for (const n of Object.values(byId)) await stakeAndJoin(ctx, taskId, n.signer, n.stake);

        const { round } = await startRoundWithRoles(ctx, taskId, Object.values(byId), c.proposerBps);
        for (const n of Object.values(byId)) {
          expect(await alliance.roleOf(taskId, round, n.signer.address)).to.equal(n.role === "proposer" ? 1n : 0n);
        }

        const modelHash = ethers.id(`candidate of ${c.name}`);
        const votes = [];
        // Submit in reverse table order: the contract must not depend on vote order.
        for (const n of Object.values(byId).reverse()) {
          if (n.role === "voter" && n.vote !== 0) votes.push(await signVote(alliance, n.signer, taskId, round, modelHash, n.vote));
        }
        const flagged = Object.values(byId)
          .filter((n) => n.role === "proposer" && n.flagged)
          .map((n) => n.signer.address);

        const before = await alliance.getTask(taskId);
        const tx = alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, votes, flagged);
        const want = c.expected;
        await expect(tx)
          .to.emit(alliance, "RoundFinalized")
          .withArgs(taskId, round, modelHash, want.outcome === "accepted", BigInt(want.voteSum), BigInt(want.paid),
            BigInt(want.slashed), BigInt(want.toPool), BigInt(want.toCreator));

        for (const n of Object.values(byId)) {
          const w = want.nodes[n.id];
          expect(await alliance.rewardOf(taskId, n.signer.address), `${n.id} reward`).to.equal(BigInt(w.reward));
          expect(await alliance.stakeOf(taskId, n.signer.address), `${n.id} stake`).to.equal(n.stake - BigInt(w.slash));
        }
        const after = await alliance.getTask(taskId);
        expect(after.pool).to.equal(BigInt(want.poolAfter));
        expect(after.creatorBalance).to.equal(BigInt(want.creatorCredit));
        expect(after.modelHash).to.equal(want.outcome === "accepted" ? modelHash : before.modelHash);
        const r = await alliance.getRound(taskId, round);
        expect(r.voteSum).to.equal(BigInt(want.voteSum));
        expect(r.accepted).to.equal(want.outcome === "accepted");
        expect(r.rewardPaid).to.equal(BigInt(want.paid));
        expect(r.slashed).to.equal(BigInt(want.slashed));
      });
    });
  }
});
