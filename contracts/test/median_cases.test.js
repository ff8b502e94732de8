// Runs the shared table test/median_cases.json (AllianceTaskV2's settlement rule) against the
// Solidity library MedianSettlement (through a test-only harness) and the JS model in helpersV2.js.
// tests/chain/median_settlement_test.cpp runs the same table against chain/'s C++ implementation.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const table = require("./median_cases.json");
const { settleV2, caseInput } = require("./helpersV2");

function check(name, got, ex, ids) {
  expect(got.quorum, `${name} quorum`).to.equal(ex.quorum);
  expect(String(got.median), `${name} median`).to.equal(ex.median);
  expect(got.accepted, `${name} accepted`).to.equal(ex.accepted);
  for (const k of ["revealedStake", "voterStake", "winnerStake", "pot", "paid", "slashed", "poolAfter", "creatorCredit"])
    expect(String(got[k]), `${name} ${k}`).to.equal(ex[k]);
  ids.forEach((id, i) => {
    expect(String(got.reward[i]), `${name} ${id} reward`).to.equal(ex.nodes[id].reward);
    expect(String(got.slash[i]), `${name} ${id} slash`).to.equal(ex.nodes[id].slash);
  });
}

describe("median_cases.json (AllianceTaskV2 settlement)", function () {
  let harness;
  before(async function () {
    harness = await (await ethers.getContractFactory("MedianSettlementHarness")).deploy();
  });

  it("is well formed and covers every outcome", function () {
    expect(table.format).to.equal("murmuration-median-cases/1");
    expect(table.cases.length).to.be.greaterThan(40);
    const ex = table.cases.map((c) => c.expected);
    expect(ex.some((e) => !e.quorum)).to.equal(true);
    expect(ex.some((e) => e.quorum && e.accepted)).to.equal(true);
    expect(ex.some((e) => e.quorum && !e.accepted)).to.equal(true);
    expect(ex.some((e) => e.creatorCredit !== "0")).to.equal(true);
    // Money is conserved in every case: pool + slashed = paid + poolAfter + creatorCredit.
    for (const c of table.cases) {
      const e = c.expected;
      expect(BigInt(c.pool) + BigInt(e.slashed)).to.equal(BigInt(e.paid) + BigInt(e.poolAfter) + BigInt(e.creatorCredit));
      expect(BigInt(e.paid) <= BigInt(e.pot)).to.equal(true);
    }
  });

  for (const c of table.cases) {
    it(`${c.name}: Solidity library and JS model`, async function () {
      const x = caseInput(c);
      const ids = c.nodes.map((n) => n.id);
      check(`${c.name} (js)`, settleV2(x), c.expected, ids);
      const out = await harness.settle({
        pool: x.pool,
        roundsLeft: x.roundsLeft,
        slashBps: x.slashBps,
        quorumBps: x.quorumBps,
        toleranceBps: x.toleranceBps,
        kind: x.nodes.map((n) => n.kind),
        stake: x.nodes.map((n) => n.stake),
        score: x.nodes.map((n) => n.score),
        objectionStake: x.nodes.map((n) => n.objectionStake),
      });
      check(`${c.name} (sol)`, out, c.expected, ids);
    });
  }
});
