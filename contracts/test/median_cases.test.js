// Runs the shared table test/median_cases.json (AllianceTaskV2's settlement rule) against the
// Solidity library MedianSettlement (through a test-only harness) and the JS model in helpersV2.js.
// tests/chain/median_settlement_test.cpp runs the same table against chain/'s C++ implementation.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const table = require("./median_cases.json");
const { settleV2, caseInput } = require("./helpersV2");

function check(name, got, ex, ids, js = false) {
  expect(got.quorum, `${name} quorum`).to.equal(ex.quorum);
  expect(String(got.median), `${name} median`).to.equal(ex.median);
  expect(got.accepted, `${name} accepted`).to.equal(ex.accepted);
  for (const k of ["revealedStake", "voterStake", "winnerStake", "pot", "paid", "slashed", "poolAfter", "creatorCredit"])
    expect(String(got[k]), `${name} ${k}`).to.equal(ex[k]);
  ids.forEach((id, i) => {
    expect(String(got.reward[i]), `${name} ${id} reward`).to.equal(ex.nodes[id].reward);
    expect(String(got.slash[i]), `${name} ${id} slash`).to.equal(ex.nodes[id].slash);
    if (js && ex.nodes[id].disagreements !== undefined)
      expect(Number(got.disagreements[i]), `${name} ${id} disagreements`).to.equal(ex.nodes[id].disagreements);
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

  // The objection consensus's worked cases, against hand arithmetic (not the JS model).
  it("worked cases of the objection consensus: who is far from it and who is not", function () {
    const by = (name) => table.cases.find((c) => c.name === name).expected.nodes;
    const paid = (n) => n.reward !== "0" && n.slash === "0";
    let e = by("contrarian_objections_slashed"); // v3: within score tolerance, 4 of 4 disagreements
    expect([e.v3.disagreements, e.v3.slash, e.v3.reward]).to.deep.equal([4, "30", "0"]);
    expect(paid(e.v1) && paid(e.v2) && paid(e.p1) && paid(e.p2) && paid(e.p3)).to.equal(true);
    expect(e.p4.slash).to.equal("10");
    e = by("objection_minority_not_slashed"); // 1 and 2 of 4 disagreements: not more than half
    expect([e.v3.disagreements, e.v4.disagreements]).to.deep.equal([1, 2]);
    expect(paid(e.v3) && paid(e.v4)).to.equal(true);
    e = by("single_update_close_call"); // 1 of 1, below MIN_DISAGREEMENTS
    expect(paid(e.v1) && paid(e.v2) && paid(e.p1)).to.equal(true);
    e = by("objection_bits_on_voters_ignored");
    expect([e.v3.disagreements, paid(e.v3)]).to.deep.equal([0, true]);
    e = by("rejected"); // included, not objected: paid although the candidate was rejected
    expect(paid(e.p1) && paid(e.p2)).to.equal(true);
    e = by("rejected_objection_far_and_score_far");
    expect([e.v3.slash, e.v4.slash, e.v4.disagreements, e.p2.slash]).to.deep.equal(["10", "20", 2, "10"]);
    expect(paid(e.p1)).to.equal(true);
  });

  for (const c of table.cases) {
    it(`${c.name}: Solidity library and JS model`, async function () {
      const x = caseInput(c);
      const ids = c.nodes.map((n) => n.id);
      check(`${c.name} (js)`, settleV2(x), c.expected, ids, true);
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
        objections: x.nodes.map((n) => n.objections),
      });
      check(`${c.name} (sol)`, out, c.expected, ids);
    });
  }
});
