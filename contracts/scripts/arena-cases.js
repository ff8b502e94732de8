// Writes contracts/test/arena_cases.json, the shared cases table of ArenaTask's reward rule
// (issue 17): worked cases named after what they show, plus seeded random ones, with the expected
// values from the JS model (test/helpersArena.js). The table is then checked against the Solidity
// library (test/arena_cases.test.js) and the C++ twin (tests/chain/arena_settlement_test.cpp);
// the worked cases' key figures are also checked against hand arithmetic in arena_cases.test.js.
//
//   node scripts/arena-cases.js            (from contracts/; rewrite only when the rule changes)
const fs = require("fs");
const path = require("path");
const { arenaSettle, splitDelegation, caseInput, rng } = require("../test/helpersArena");

const E = 10n ** 18n;
const eth = (x) => (BigInt(x) * E).toString();

function expectedOf(c) {
  const o = arenaSettle(caseInput(c));
  return {
    nodePot: o.nodePot.toString(),
    validatorPot: o.validatorPot.toString(),
    slashed: o.slashed.toString(),
    paid: o.paid.toString(),
    creatorCredit: o.creatorCredit.toString(),
    nodes: Object.fromEntries(
      c.nodes.map((n, i) => [n.id, { hasConsensus: o.hasConsensus[i], consensus: o.consensus[i].toString(), rank: o.rank[i], reward: o.nodeReward[i].toString() }])
    ),
    validators: Object.fromEntries(
      c.validators.map((v, i) => [v.id, { weight: o.validatorWeight[i].toString(), reward: o.validatorReward[i].toString(), slash: o.validatorSlash[i].toString() }])
    ),
  };
}

const base = { pot: eth(1000), gammaBps: 5000, rankRatioBps: 5000, toleranceBps: 1000, slashBps: 5000 };
const nodes = (...s) => s.map((x, i) => ({ id: `n${i + 1}`, stake: eth(x) }));
const vals = (...s) => s.map((x, i) => ({ id: `v${i + 1}`, stake: eth(x), own: eth(x) }));
const rev = (validator, node, score) => ({ node, validator, revealed: true, score: String(score) });
const silent = (validator, node) => ({ node, validator, revealed: false });

const worked = [
  {
    name: "simple_two_nodes_two_validators",
    note: "T = 200, S = 200, gamma 0.5: nodePot = 1000·(0.5·400 + 2·0.5·200)/(2·400) = 500. n1 (loss 1.0) ranks 0, n2 (loss 2.0) rank 1: weights 1e18·100 and 0.5e18·100 -> 333.33…, 166.66…; both validators exact -> 250 each",
    ...base,
    nodes: nodes(100, 100),
    validators: vals(100, 100),
    entries: [rev("v1", "n1", 1000000), rev("v2", "n1", 1000000), rev("v1", "n2", 2000000), rev("v2", "n2", 2000000)],
  },
  {
    name: "tie_shares_the_better_rank",
    note: "n1 and n2 tie at consensus 1.5: both rank 0, n3 ranks 2 (competition ranking): weights 1, 1, 0.25",
    ...base,
    nodes: nodes(100, 100, 100),
    validators: vals(100),
    entries: [rev("v1", "n1", 1500000), rev("v1", "n2", 1500000), rev("v1", "n3", 1600000)],
  },
  {
    name: "weighted_median_lower",
    note: "scores 1.0 (stake 30), 2.0 (30), 3.0 (40): cumulative 30, 60 ≥ 50 -> consensus 2.0; the 3.0 scorer is 50% off (tolerance 10%) -> no agreement",
    ...base,
    nodes: nodes(50),
    validators: vals(30, 30, 40),
    entries: [rev("v1", "n1", 1000000), rev("v2", "n1", 2000000), rev("v3", "n1", 3000000)],
  },
  {
    name: "even_split_takes_lower",
    note: "two equal stakes: 2·cum ≥ total at the lower score -> consensus is the lower one",
    ...base,
    nodes: nodes(50),
    validators: vals(10, 10),
    entries: [rev("v1", "n1", 1000000), rev("v2", "n1", 1050000)],
  },
  {
    name: "sybil_small_stake_cannot_move_median",
    note: "v4 (stake 1) scores n2 best and n1 worst; the three honest validators (100 each) set the consensus; v4 earns nothing",
    ...base,
    nodes: nodes(100, 100),
    validators: vals(100, 100, 100, 1),
    entries: [
      rev("v1", "n1", 1000000), rev("v2", "n1", 1010000), rev("v3", "n1", 990000), rev("v4", "n1", 9000000),
      rev("v1", "n2", 2000000), rev("v2", "n2", 2020000), rev("v3", "n2", 1980000), rev("v4", "n2", 100000),
    ],
  },
  {
    name: "unrevealed_commit_slashed",
    note: "v2 commits on n1 and never reveals: slashed 50% of its own 100 = 50, which joins the validator pot; v2's revealed n2 score earns nothing either",
    ...base,
    nodes: nodes(100, 100),
    validators: vals(100, 100),
    entries: [rev("v1", "n1", 1000000), silent("v2", "n1"), rev("v1", "n2", 2000000), rev("v2", "n2", 2000000)],
  },
  {
    name: "random_scorer_earns_less",
    note: "v3 scores at random, near consensus on one submission only: its weight is a fraction of the honest ones'",
    ...base,
    nodes: nodes(100, 100, 100),
    validators: vals(100, 100, 100),
    entries: [
      rev("v1", "n1", 1000000), rev("v2", "n1", 1001000), rev("v3", "n1", 1040000),
      rev("v1", "n2", 1500000), rev("v2", "n2", 1499000), rev("v3", "n2", 4200000),
      rev("v1", "n3", 2500000), rev("v2", "n3", 2502000), rev("v3", "n3", 300000),
    ],
  },
  {
    name: "submission_without_reveal_unranked",
    note: "nobody revealed a score for n2: no consensus, no rank, no reward; its stake still counts in T",
    ...base,
    nodes: nodes(100, 100),
    validators: vals(100),
    entries: [rev("v1", "n1", 1000000), silent("v1", "n2")],
  },
  {
    name: "all_silent_goes_to_creator",
    note: "no reveal at all: no consensus, every validator slashed, everything (pot + slashes) credited to the creator",
    ...base,
    nodes: nodes(100),
    validators: vals(100, 50),
    entries: [silent("v1", "n1"), silent("v2", "n1")],
  },
  {
    name: "gamma_full_half_half",
    note: "gamma = 10000: nodePot = pot/2 whatever the stakes",
    ...base,
    gammaBps: 10000,
    nodes: nodes(10),
    validators: vals(1000),
    entries: [rev("v1", "n1", 700000)],
  },
  {
    name: "gamma_zero_by_stake",
    note: "gamma = 0: nodePot = pot · T/(T+S) = 1000 · 10/1010",
    ...base,
    gammaBps: 0,
    nodes: nodes(10),
    validators: vals(1000),
    entries: [rev("v1", "n1", 700000)],
  },
  {
    name: "stake_weights_same_rank",
    note: "n1 and n2 tie; n2 has 3x the stake -> 3x the reward",
    ...base,
    nodes: nodes(100, 300),
    validators: vals(100),
    entries: [rev("v1", "n1", 800000), rev("v1", "n2", 800000)],
  },
  {
    name: "zero_slash_bps",
    note: "slashBps 0: an unrevealed commit costs nothing but earns nothing",
    ...base,
    slashBps: 0,
    nodes: nodes(100),
    validators: vals(100, 100),
    entries: [rev("v1", "n1", 1000000), silent("v2", "n1")],
  },
  {
    name: "tolerance_edge",
    note: "consensus 1.0, tolerance 10% = 100000: v2 at exactly 100000 away earns 0, v3 at 50000 earns half",
    ...base,
    nodes: nodes(100),
    validators: vals(100, 10, 10),
    entries: [rev("v1", "n1", 1000000), rev("v2", "n1", 1100000), rev("v3", "n1", 950000)],
  },
  {
    name: "zero_loss_consensus",
    note: "consensus 0: tol = max(1, 0) = 1, only an exact 0 agrees",
    ...base,
    nodes: nodes(100),
    validators: vals(100, 100, 1),
    entries: [rev("v1", "n1", 0), rev("v2", "n1", 0), rev("v3", "n1", 1)],
  },
  {
    name: "huge_amounts",
    note: "stakes and pot near 2^128: mulDiv keeps every product exact",
    ...base,
    pot: ((1n << 128n) - 1n).toString(),
    nodes: [{ id: "n1", stake: ((1n << 128n) - 1n).toString() }, { id: "n2", stake: ((1n << 127n) + 12345n).toString() }],
    validators: [{ id: "v1", stake: ((1n << 128n) - 1n).toString(), own: ((1n << 127n) - 1n).toString() }, { id: "v2", stake: "1000000000000000000", own: "1000000000000000000" }],
    entries: [rev("v1", "n1", 999999), rev("v2", "n1", 999999), rev("v1", "n2", 1000000), silent("v2", "n2")],
  },
];

function randomCase(seed) {
  const r = rng(seed);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const big = () => {
    const bits = [20, 60, 90, 120][int(0, 3)];
    let x = 0n;
    for (let i = 0; i < bits; i += 16) x = (x << 16n) | BigInt(int(0, 65535));
    return (x % (1n << BigInt(bits))) + 1n;
  };
  const n = int(1, 10);
  const m = int(1, 8);
  const k = int(1, Math.min(m, 5));
  const c = {
    name: `random_${seed}`,
    pot: big().toString(),
    gammaBps: [0, 2500, 5000, 10000, int(0, 10000)][int(0, 4)],
    rankRatioBps: [1, 5000, 9000, 9999, int(1, 9999)][int(0, 4)],
    toleranceBps: [1, 500, 1000, 10000, int(1, 10000)][int(0, 4)],
    slashBps: [0, 5000, 10000, int(0, 10000)][int(0, 3)],
    nodes: [],
    validators: [],
    entries: [],
  };
  for (let i = 0; i < n; ++i) c.nodes.push({ id: `n${i + 1}`, stake: big().toString() });
  for (let v = 0; v < m; ++v) {
    const own = big();
    const delegated = r() < 0.4 ? big() : 0n;
    c.validators.push({ id: `v${v + 1}`, stake: (own + delegated).toString(), own: own.toString() });
  }
  const truth = c.nodes.map(() => int(100000, 5000000));
  for (let s = 0; s < n; ++s) {
    const chosen = new Set();
    while (chosen.size < k) chosen.add(int(0, m - 1));
    for (const v of chosen) {
      const kind = r();
      if (kind < 0.1) c.entries.push(silent(`v${v + 1}`, `n${s + 1}`));
      else if (kind < 0.2) c.entries.push(rev(`v${v + 1}`, `n${s + 1}`, int(0, 9000000)));
      else if (kind < 0.3) c.entries.push(rev(`v${v + 1}`, `n${s + 1}`, truth[(s + 1) % n]));
      else c.entries.push(rev(`v${v + 1}`, `n${s + 1}`, Math.max(0, truth[s] + int(-30000, 30000))));
    }
  }
  // Entries in a shuffled commit order (the rule must not depend on it).
  for (let i = c.entries.length - 1; i > 0; --i) {
    const j = int(0, i);
    [c.entries[i], c.entries[j]] = [c.entries[j], c.entries[i]];
  }
  return c;
}

const delegationCases = [
  { name: "no_delegators", reward: eth(100), own: eth(50), commissionBps: 1000, delegations: [] },
  { name: "one_delegator_equal_stake", reward: eth(100), own: eth(50), commissionBps: 1000, delegations: [eth(50)] },
  { name: "two_delegators_commission_zero", reward: "1000", own: "10", commissionBps: 0, delegations: ["30", "60"] },
  { name: "full_commission", reward: eth(7), own: eth(1), commissionBps: 10000, delegations: [eth(3), eth(5)] },
  { name: "dust_to_delegate", reward: "7", own: "1", commissionBps: 3333, delegations: ["1", "1", "1"] },
  { name: "zero_reward", reward: "0", own: "5", commissionBps: 100, delegations: ["5"] },
  { name: "huge", reward: ((1n << 128n) - 1n).toString(), own: ((1n << 128n) - 1n).toString(), commissionBps: 1234, delegations: [((1n << 127n) + 1n).toString(), "1"] },
];
{
  const r = rng(4242);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  for (let i = 0; i < 20; ++i) {
    const d = Array.from({ length: int(1, 16) }, () => BigInt(int(1, 1e9)) * BigInt(int(1, 1e9)));
    delegationCases.push({ name: `random_${i}`, reward: (BigInt(int(0, 1e9)) * BigInt(int(1, 1e9))).toString(), own: String(int(1, 1e9)), commissionBps: int(0, 10000), delegations: d.map(String) });
  }
}

const cases = [...worked, ...Array.from({ length: 40 }, (_, i) => randomCase(1000 + i))];
for (const c of cases) c.expected = expectedOf(c);
for (const d of delegationCases) {
  const o = splitDelegation(BigInt(d.reward), BigInt(d.own), BigInt(d.commissionBps), d.delegations.map(BigInt));
  d.expected = { delegate: o.delegate.toString(), delegators: o.delegators.map(String) };
}

// ArenaTask.assignees (systematic sampling by stake) and scoreCommitment, for the C++ client.
const { ethers } = require("ethers");
const { picks, commitmentOf } = require("../test/helpersArena");
const assignmentCases = [];
{
  const r = rng(777);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const shapes = [[1, 1], [3, 3], [4, 1], [5, 3], [8, 8], [16, 5], [64, 8]];
  for (let i = 0; i < 30; ++i) {
    const [m, k] = i < shapes.length ? shapes[i] : [int(1, 20), 0];
    const kk = k || int(1, Math.min(m, 8));
    const stakes = Array.from({ length: m }, () => (i % 3 === 0 && r() < 0.3 ? BigInt(int(1, 1e9)) * 10n ** 24n : BigInt(int(1, 1e6)) * 10n ** 15n));
    const cum = [];
    let c = 0n;
    for (const x of stakes) cum.push((c += x));
    const seed = ethers.keccak256(ethers.toUtf8Bytes(`arena seed ${i}`));
    const submission = int(0, 63);
    assignmentCases.push({ name: `assign_${i}`, seed, submission, k: kk, stakes: stakes.map(String), expected: picks(seed, submission, cum, kk) });
  }
}
const commitmentCases = [];
{
  const r = rng(31337);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  for (let i = 0; i < 8; ++i) {
    const c = { taskId: String(int(1, 1000)), submission: int(0, 63), validator: ethers.getAddress(ethers.keccak256(ethers.toUtf8Bytes(`validator ${i}`)).slice(0, 42)), score: String(i === 0 ? 0 : i === 1 ? 10n ** 15n : BigInt(int(0, 9_999_999))), salt: ethers.keccak256(ethers.toUtf8Bytes(`salt ${i}`)) };
    c.expected = commitmentOf(BigInt(c.taskId), c.submission, c.validator, BigInt(c.score), c.salt);
    commitmentCases.push(c);
  }
}

const table = {
  format: "murmuration-arena-cases/1",
  description:
    "Reward rule of one ArenaTask (contracts/contracts/ArenaSettlement.sol). Written by contracts/scripts/arena-cases.js from the JS model (contracts/test/helpersArena.js); run by contracts/test/arena_cases.test.js against the Solidity library and by tests/chain/arena_settlement_test.cpp against chain/src/arena_settlement.cpp. Amounts are decimal strings; bps in 1/10000; scores are losses x 1e6 (lower is better). Submissions are the nodes in list order; node and validator stakes are effective (own + delegated), validators' `own` is what a slash takes from.",
  formula: [
    "consensus(s) = lowest revealed score x with 2 * (stake of revealed scores <= x) >= stake of all revealed scores of s; none when nobody revealed",
    "rank(s) = number of submissions with a strictly lower consensus (ties share the better rank); none without consensus",
    "g_0 = 1e18, g_r = floor(g_{r-1} * rankRatioBps / 10000)",
    "T = sum of node stakes, S = sum of validator stakes; nodePot = floor(pot * (gammaBps*(T+S) + 2*(10000-gammaBps)*T) / (2*10000*(T+S)))",
    "node reward = floor(nodePot * g_rank * stake / sum over ranked nodes of g_rank * stake)",
    "tol = max(1, floor(consensus * toleranceBps / 10000)); agreement = d < tol ? floor((tol - d) * 10000 / tol) : 0, d = |score - consensus|",
    "a validator with any unrevealed entry: slash = floor(own * slashBps / 10000), weight 0; else weight = stake * sum of its agreements",
    "validatorPot = pot - nodePot + slashed; validator reward = floor(validatorPot * weight / sum of weights)",
    "creatorCredit = pot + slashed - paid",
    "delegation: gross = floor(reward * D / (own + D)), net = gross - floor(gross * commissionBps / 10000), delegator_j = floor(net * d_j / D), delegate = reward - sum delegator_j",
  ],
  cases,
  delegationCases,
  assignmentCases,
  commitmentCases,
};
fs.writeFileSync(path.join(__dirname, "..", "test", "arena_cases.json"), JSON.stringify(table, null, 1) + "\n");
console.log(`arena_cases.json: ${cases.length} cases, ${delegationCases.length} delegation, ${assignmentCases.length} assignment, ${commitmentCases.length} commitment cases`);
