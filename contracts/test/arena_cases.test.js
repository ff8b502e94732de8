// Runs the shared table test/arena_cases.json (ArenaTask's reward rule, issue 17) against the
// Solidity library ArenaSettlement (through a test-only harness) and the JS model in
// helpersArena.js; tests/chain/arena_settlement_test.cpp runs the same table against chain/'s C++.
// The worked cases' key figures are also checked here against arithmetic done by hand.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const table = require("./arena_cases.json");
const { arenaSettle, splitDelegation, caseInput, harnessInput } = require("./helpersArena");

const E = 10n ** 18n;
const NO_RANK = ethers.MaxUint256;

function check(name, got, ex, c) {
  for (const k of ["nodePot", "validatorPot", "slashed", "paid", "creatorCredit"]) expect(String(got[k]), `${name} ${k}`).to.equal(ex[k]);
  c.nodes.forEach((n, i) => {
    const e = ex.nodes[n.id];
    expect(got.hasConsensus[i], `${name} ${n.id} hasConsensus`).to.equal(e.hasConsensus);
    expect(String(got.consensus[i]), `${name} ${n.id} consensus`).to.equal(e.consensus);
    const rank = got.rank[i] === null || BigInt(got.rank[i]) === NO_RANK ? null : Number(got.rank[i]);
    expect(rank, `${name} ${n.id} rank`).to.equal(e.rank);
    expect(String(got.nodeReward[i]), `${name} ${n.id} reward`).to.equal(e.reward);
  });
  c.validators.forEach((v, i) => {
    const e = ex.validators[v.id];
    expect(String(got.validatorWeight[i]), `${name} ${v.id} weight`).to.equal(e.weight);
    expect(String(got.validatorReward[i]), `${name} ${v.id} reward`).to.equal(e.reward);
    expect(String(got.validatorSlash[i]), `${name} ${v.id} slash`).to.equal(e.slash);
  });
}

const byName = Object.fromEntries(table.cases.map((c) => [c.name, c.expected]));

describe("arena_cases.json (ArenaTask reward rule)", function () {
  let harness;
  before(async function () {
    harness = await (await ethers.getContractFactory("ArenaSettlementHarness")).deploy();
  });

  it("is well formed, covers every outcome and conserves money in every case", function () {
    expect(table.format).to.equal("murmuration-arena-cases/1");
    expect(table.cases.length).to.be.greaterThan(50);
    expect(table.delegationCases.length).to.be.greaterThan(20);
    const ex = table.cases.map((c) => c.expected);
    expect(ex.some((e) => Object.values(e.nodes).some((n) => n.rank === null))).to.equal(true);
    expect(ex.some((e) => e.slashed !== "0")).to.equal(true);
    expect(ex.some((e) => Object.values(e.validators).some((v) => v.weight === "0" && v.slash === "0"))).to.equal(true);
    for (const c of table.cases) {
      const e = c.expected;
      // pot + slashed = paid + creatorCredit, and paid is exactly the sum of the rewards.
      expect(BigInt(c.pot) + BigInt(e.slashed)).to.equal(BigInt(e.paid) + BigInt(e.creatorCredit));
      const sum = [...Object.values(e.nodes), ...Object.values(e.validators)].reduce((a, x) => a + BigInt(x.reward), 0n);
      expect(sum, c.name).to.equal(BigInt(e.paid));
      expect(BigInt(e.nodePot) <= BigInt(c.pot)).to.equal(true);
    }
    for (const d of table.delegationCases) {
      const sum = d.expected.delegators.reduce((a, x) => a + BigInt(x), BigInt(d.expected.delegate));
      expect(sum, d.name).to.equal(BigInt(d.reward));
    }
  });

  it("worked cases agree with arithmetic done by hand", function () {
    // T = S = 200, gamma 0.5 -> nodePot = 1000 * (0.5*400 + 1*200) / 800 = 500; ranks 0 and 1 weigh 1 and 0.5.
    let e = byName.simple_two_nodes_two_validators;
    expect(e.nodePot).to.equal(String(500n * E));
    expect(e.nodes.n1.reward).to.equal(String((500n * E * 2n) / 3n));
    expect(e.nodes.n2.reward).to.equal(String((500n * E) / 3n));
    expect(e.validators.v1.reward).to.equal(String(250n * E));
    // Ties share rank 0; n3 is rank 2 (competition ranking) -> weight 0.25.
    e = byName.tie_shares_the_better_rank;
    expect([e.nodes.n1.rank, e.nodes.n2.rank, e.nodes.n3.rank]).to.deep.equal([0, 0, 2]);
    // T = 300, S = 100 -> nodePot = 1000 * (0.5*400 + 300) / 800 = 625; weights 1, 1, 0.25 of 2.25.
    expect(e.nodePot).to.equal(String(625n * E));
    expect(e.nodes.n1.reward).to.equal(String((625n * E * 4n) / 9n));
    expect(e.nodes.n3.reward).to.equal(String((625n * E) / 9n));
    // Lower weighted median: 30, 60 >= 50 -> 2.0.
    expect(byName.weighted_median_lower.nodes.n1.consensus).to.equal("2000000");
    expect(byName.even_split_takes_lower.nodes.n1.consensus).to.equal("1000000");
    // The Sybil (stake 1) neither moves the consensus nor earns.
    e = byName.sybil_small_stake_cannot_move_median;
    expect(e.nodes.n1.consensus).to.equal("1000000");
    expect(e.nodes.n2.consensus).to.equal("2000000");
    expect(e.validators.v4.reward).to.equal("0");
    // Unrevealed: slash 50% of 100; v1 alone takes validatorPot = 500 + 50.
    e = byName.unrevealed_commit_slashed;
    expect(e.validators.v2.slash).to.equal(String(50n * E));
    expect(e.validators.v1.reward).to.equal(String(550n * E));
    // Random scorer earns less than each honest validator.
    e = byName.random_scorer_earns_less;
    expect(BigInt(e.validators.v3.reward) * 4n < BigInt(e.validators.v1.reward)).to.equal(true);
    expect(byName.submission_without_reveal_unranked.nodes.n2.rank).to.equal(null);
    expect(byName.all_silent_goes_to_creator.creatorCredit).to.equal(String(1075n * E));
    expect(byName.gamma_full_half_half.nodePot).to.equal(String(500n * E));
    expect(byName.gamma_zero_by_stake.nodePot).to.equal(String((1000n * E * 10n) / 1010n));
    e = byName.stake_weights_same_rank;
    expect(BigInt(e.nodes.n2.reward)).to.equal(3n * BigInt(e.nodes.n1.reward));
    // Tolerance 10% of 1.0 = 100000: 100000 away -> 0, 50000 away -> 5000 bps, so v3's weight is 10*5000.
    e = byName.tolerance_edge;
    expect(e.validators.v2.weight).to.equal("0");
    expect(e.validators.v3.weight).to.equal(String(10n * E * 5000n));
    expect(e.validators.v1.weight).to.equal(String(100n * E * 10000n));
  });

  for (const c of table.cases) {
    it(`${c.name}: Solidity library and JS model`, async function () {
      const x = caseInput(c);
      check(`${c.name} (js)`, arenaSettle(x), c.expected, c);
      check(`${c.name} (sol)`, await harness.settle(harnessInput(x)), c.expected, c);
    });
  }

  it("score commitments: the contract's scoreCommitment gives the table's vectors (the C++ client's too)", async function () {
    const arena = await (await ethers.getContractFactory("ArenaTask")).deploy();
    expect(table.commitmentCases.length).to.be.greaterThan(4);
    for (const c of table.commitmentCases)
      expect(await arena.scoreCommitment(c.taskId, c.submission, c.validator, c.score, c.salt)).to.equal(c.expected);
    expect(table.assignmentCases.length).to.be.greaterThan(20);
  });

  it("assignments follow stake: inclusion frequency k·s/W over 4000 seeds (JS sampling = the contract's)", function () {
    const { picks } = require("./helpersArena");
    const stakes = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n].map((x) => x * 10n ** 18n);
    const cum = [];
    let c = 0n;
    for (const x of stakes) cum.push((c += x));
    const k = 3;
    const count = stakes.map(() => 0);
    const trials = 4000;
    for (let i = 0; i < trials; ++i) {
      const seed = ethers.keccak256(ethers.toUtf8Bytes(`freq ${i}`));
      const p = picks(seed, i % 64, cum, k);
      expect(new Set(p).size).to.equal(k);
      for (const v of p) count[v] += 1;
    }
    const w = Number(c / 10n ** 18n);
    stakes.forEach((s, i) => {
      const expected = (trials * k * Number(s / 10n ** 18n)) / w; // k·s/W ≤ 0.55 < 1: no cap
      expect(Math.abs(count[i] - expected), `validator ${i}: ${count[i]} vs ${expected}`).to.be.lessThan(0.15 * expected + 25);
    });
  });

  it("delegation split: Solidity library and JS model on every delegation case", async function () {
    for (const d of table.delegationCases) {
      const args = [BigInt(d.reward), BigInt(d.own), BigInt(d.commissionBps), d.delegations.map(BigInt)];
      const js = splitDelegation(...args);
      expect(String(js.delegate), d.name).to.equal(d.expected.delegate);
      expect(js.delegators.map(String), d.name).to.deep.equal(d.expected.delegators);
      const [own, shares] = await harness.splitDelegation(...args);
      expect(String(own), d.name).to.equal(d.expected.delegate);
      expect(shares.map(String), d.name).to.deep.equal(d.expected.delegators);
    }
    // By hand: reward 100, own 50, one delegator 50, commission 10% -> gross 50, net 45.
    const one = table.delegationCases.find((d) => d.name === "one_delegator_equal_stake");
    expect(one.expected.delegators).to.deep.equal([String(45n * E)]);
    expect(one.expected.delegate).to.equal(String(55n * E));
  });
});
