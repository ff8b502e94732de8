// Helpers for the ArenaTask tests (issue 17) and the JavaScript model of ArenaSettlement (the rule
// of contracts/test/arena_cases.json, also run by tests/chain/arena_settlement_test.cpp).
const { ethers, network } = require("hardhat");

const BPS = 10000n;
const ONE = 10n ** 18n;
const ROLE = { none: 0, node: 1, validator: 2 };
const PHASE = { none: 0, open: 1, sealing: 2, scoring: 3, finalized: 4 };

const mulDiv = (a, b, d) => (a * b) / d;

/// ArenaSettlement.settle. x: { pot, gammaBps, rankRatioBps, toleranceBps, slashBps, nodeStake[],
/// validatorStake[], validatorOwnStake[], entries: [{ sub, validator, revealed, score }] } (bigint).
function arenaSettle(x) {
  const n = x.nodeStake.length;
  const m = x.validatorStake.length;
  const o = {
    nodePot: 0n, validatorPot: 0n, slashed: 0n, paid: 0n, creatorCredit: 0n,
    hasConsensus: Array(n).fill(false), consensus: Array(n).fill(0n), rank: Array(n).fill(null),
    nodeReward: Array(n).fill(0n), validatorReward: Array(m).fill(0n), validatorSlash: Array(m).fill(0n), validatorWeight: Array(m).fill(0n),
  };
  // Consensus: lower stake-weighted median of the revealed scores of each submission; equal
  // scores are ordered by entry index, which does not change the median's value.
  for (let s = 0; s < n; ++s) {
    const rev = x.entries.map((e, i) => ({ ...e, i })).filter((e) => e.revealed && e.sub === s);
    if (rev.length === 0) continue;
    rev.sort((a, b) => (a.score < b.score ? -1 : a.score > b.score ? 1 : a.i - b.i));
    const total = rev.reduce((acc, e) => acc + x.validatorStake[e.validator], 0n);
    let cum = 0n;
    for (const e of rev) {
      cum += x.validatorStake[e.validator];
      if (2n * cum >= total) {
        o.hasConsensus[s] = true;
        o.consensus[s] = e.score;
        break;
      }
    }
  }
  for (let s = 0; s < n; ++s) {
    if (!o.hasConsensus[s]) continue;
    o.rank[s] = o.consensus.filter((c, k) => o.hasConsensus[k] && c < o.consensus[s]).length;
  }
  const t = x.nodeStake.reduce((a, b) => a + b, 0n);
  const sv = x.validatorStake.reduce((a, b) => a + b, 0n);
  if (t + sv > 0n) o.nodePot = mulDiv(x.pot, x.gammaBps * (t + sv) + 2n * (BPS - x.gammaBps) * t, 2n * BPS * (t + sv));
  const w = x.nodeStake.map((st, s) => (o.hasConsensus[s] ? geometric(x.rankRatioBps, o.rank[s]) * st : 0n));
  const wSum = w.reduce((a, b) => a + b, 0n);
  if (wSum > 0n)
    w.forEach((wi, s) => {
      if (wi === 0n) return;
      o.nodeReward[s] = mulDiv(o.nodePot, wi, wSum);
      o.paid += o.nodeReward[s];
    });
  const silent = Array(m).fill(false);
  for (const e of x.entries) if (!e.revealed) silent[e.validator] = true;
  for (let v = 0; v < m; ++v)
    if (silent[v] && x.slashBps > 0n) {
      o.validatorSlash[v] = (x.validatorOwnStake[v] * x.slashBps) / BPS;
      o.slashed += o.validatorSlash[v];
    }
  const agree = Array(m).fill(0n);
  for (const e of x.entries) if (e.revealed) agree[e.validator] += agreement(e.score, o.consensus[e.sub], x.toleranceBps);
  let qSum = 0n;
  for (let v = 0; v < m; ++v) {
    if (silent[v]) continue;
    o.validatorWeight[v] = x.validatorStake[v] * agree[v];
    qSum += o.validatorWeight[v];
  }
  o.validatorPot = x.pot - o.nodePot + o.slashed;
  if (qSum > 0n)
    for (let v = 0; v < m; ++v) {
      if (o.validatorWeight[v] === 0n) continue;
      o.validatorReward[v] = mulDiv(o.validatorPot, o.validatorWeight[v], qSum);
      o.paid += o.validatorReward[v];
    }
  o.creatorCredit = x.pot + o.slashed - o.paid;
  return o;
}

function agreement(score, c, toleranceBps) {
  let tol = (c * toleranceBps) / BPS;
  if (tol === 0n) tol = 1n;
  const d = score >= c ? score - c : c - score;
  return d < tol ? ((tol - d) * BPS) / tol : 0n;
}

function geometric(ratioBps, r) {
  let g = ONE;
  for (let i = 0; i < r && g !== 0n; ++i) g = (g * ratioBps) / BPS;
  return g;
}

/// ArenaSettlement.splitDelegation.
function splitDelegation(reward, own, commissionBps, delegations) {
  const d = delegations.reduce((a, b) => a + b, 0n);
  const shares = delegations.map(() => 0n);
  if (d === 0n || reward === 0n) return { delegate: reward, delegators: shares };
  const gross = mulDiv(reward, d, own + d);
  const net = gross - (gross * commissionBps) / BPS;
  let rest = reward;
  delegations.forEach((di, i) => {
    shares[i] = mulDiv(net, di, d);
    rest -= shares[i];
  });
  return { delegate: rest, delegators: shares };
}

/// A case of arena_cases.json as arenaSettle's (and the harness's) input.
function caseInput(c) {
  const nodeIndex = new Map(c.nodes.map((n, i) => [n.id, i]));
  const valIndex = new Map(c.validators.map((v, i) => [v.id, i]));
  return {
    pot: BigInt(c.pot),
    gammaBps: BigInt(c.gammaBps),
    rankRatioBps: BigInt(c.rankRatioBps),
    toleranceBps: BigInt(c.toleranceBps),
    slashBps: BigInt(c.slashBps),
    nodeStake: c.nodes.map((n) => BigInt(n.stake)),
    validatorStake: c.validators.map((v) => BigInt(v.stake)),
    validatorOwnStake: c.validators.map((v) => BigInt(v.own)),
    entries: c.entries.map((e) => ({ sub: nodeIndex.get(e.node), validator: valIndex.get(e.validator), revealed: e.revealed, score: e.revealed ? BigInt(e.score) : 0n })),
  };
}

/// The harness's Input struct from a model input.
function harnessInput(x) {
  return {
    pot: x.pot,
    gammaBps: x.gammaBps,
    rankRatioBps: x.rankRatioBps,
    toleranceBps: x.toleranceBps,
    slashBps: x.slashBps,
    nodeStake: x.nodeStake,
    validatorStake: x.validatorStake,
    validatorOwnStake: x.validatorOwnStake,
    entrySub: x.entries.map((e) => e.sub),
    entryValidator: x.entries.map((e) => e.validator),
    entryScore: x.entries.map((e) => e.score),
    entryRevealed: x.entries.map((e) => e.revealed),
  };
}

/// ArenaTask's assignees: systematic sampling by effective stake (cum: cumulative stakes).
function picks(seed, submission, cum, k) {
  const m = cum.length;
  const w = cum[m - 1];
  const step = w / BigInt(k);
  const u = BigInt(ethers.solidityPackedKeccak256(["bytes32", "uint256"], [seed, submission])) % w;
  const upper = (x) => cum.findIndex((c) => c > x);
  const out = [];
  let first = 0;
  let prev = 0;
  for (let j = 0; j < k; ++j) {
    const pt = u + BigInt(j) * step;
    let idx = pt < w ? upper(pt) : m + upper(pt - w);
    if (j === 0) first = idx;
    else if (idx <= prev || idx > first + m - k + j) idx = prev + 1;
    prev = idx;
    out.push(idx % m);
  }
  return out;
}

function commitmentOf(taskId, submission, validator, score, salt) {
  return ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(["uint256", "uint256", "address", "uint64", "bytes32"], [taskId, submission, validator, score, salt])
  );
}

/// Deterministic 32-bit PRNG (mulberry32): the random cases and sequences are reproducible.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WINDOWS = { submitWindow: 600n, commitWindow: 300n, revealWindow: 300n };

async function deployArena() {
  const signers = await ethers.getSigners();
  const token = await (await ethers.getContractFactory("MockToken")).deploy();
  const arena = await (await ethers.getContractFactory("ArenaTask")).deploy();
  return { signers, token, arena, creator: signers[0], others: signers.slice(1) };
}

function arenaParams(token, over = {}) {
  return {
    token: token.target ?? token,
    rewardPool: ethers.parseEther("1000"),
    minNodeStake: ethers.parseEther("10"),
    minValidatorStake: ethers.parseEther("10"),
    submitWindow: WINDOWS.submitWindow,
    commitWindow: WINDOWS.commitWindow,
    revealWindow: WINDOWS.revealWindow,
    validatorsPerSubmission: 3,
    gammaBps: 5000,
    rankRatioBps: 5000,
    toleranceBps: 1000,
    slashBps: 5000,
    maxCommissionBps: 5000,
    baseModelHash: ethers.id("base"),
    evalSetHash: ethers.id("eval"),
    ...over,
  };
}

async function fundAndApprove(token, arena, who, amount) {
  await token.mint(who.address, amount);
  await token.connect(who).approve(arena.target, ethers.MaxUint256);
}

async function createArenaTask(ctx, over = {}, creator = ctx.creator) {
  const p = arenaParams(ctx.token, over);
  await fundAndApprove(ctx.token, ctx.arena, creator, p.rewardPool);
  const rc = await (await ctx.arena.connect(creator).createTask(p)).wait();
  const ev = rc.logs.map((l) => ctx.arena.interface.parseLog(l)).find((e) => e && e.name === "TaskCreated");
  return ev.args.taskId;
}

async function increase(seconds) {
  await network.provider.send("evm_increaseTime", [Number(seconds)]);
  await network.provider.send("evm_mine", []);
}

async function mine(n) {
  await network.provider.send("hardhat_mine", ["0x" + n.toString(16)]);
}

/// Closes submissions and draws the assignments (mining past the seed block).
async function closeAndDraw(arena, taskId, by) {
  const t = await arena.getTask(taskId);
  const now = BigInt((await ethers.provider.getBlock("latest")).timestamp);
  if (now <= t.submitDeadline) await increase(t.submitDeadline - now + 1n);
  await (await arena.connect(by).closeSubmissions(taskId)).wait();
  await mine(3);
  await (await arena.connect(by).drawAssignments(taskId)).wait();
}

module.exports = {
  BPS, ONE, ROLE, PHASE, WINDOWS, arenaSettle, agreement, geometric, splitDelegation, caseInput, harnessInput, picks, commitmentOf, rng,
  deployArena, arenaParams, fundAndApprove, createArenaTask, increase, mine, closeAndDraw,
};

const by = (ctx, addr) => ctx.signers.find((s) => s.address === addr);

/// Stakes the nodes and validators ([{ who, stake, commissionBps? }]), then delegations
/// ([{ from, to, amount }]) and submissions (each node i submits adapter `adapter i`).
async function populate(ctx, taskId, { nodes = [], validators = [], delegations = [], submit = true }) {
  const { arena, token } = ctx;
  for (const [role, list] of [[ROLE.node, nodes], [ROLE.validator, validators]])
    for (const p of list) {
      await fundAndApprove(token, arena, p.who, p.stake);
      await arena.connect(p.who).stake(taskId, role, p.stake, p.commissionBps ?? 0);
    }
  for (const d of delegations) {
    await fundAndApprove(token, arena, d.from, d.amount);
    await arena.connect(d.from).delegate(taskId, d.to.address, d.amount);
  }
  if (submit) for (const [i, p] of nodes.entries()) await arena.connect(p.who).submit(taskId, ethers.id(`adapter ${taskId} ${i}`), `file:///store/${i}`);
}

/// Each validator's assigned submissions (from the contract's assignees view).
async function assignmentOf(arena, taskId) {
  const subs = await arena.submissions(taskId);
  const out = new Map();
  for (let s = 0; s < subs.length; ++s) for (const v of await arena.assignees(taskId, s)) out.set(v, [...(out.get(v) ?? []), s]);
  return out;
}

/// Commits every validator's scores (score(validator, submission) → bigint, or null to skip),
/// then reveals those for which reveal(validator, submission) is true, then finalizes.
async function scoreAndFinalize(ctx, taskId, score, reveal = () => true, finalizer = ctx.creator) {
  const { arena } = ctx;
  const assigned = await assignmentOf(arena, taskId);
  const salts = new Map();
  for (const [v, subs] of assigned) {
    const mine = subs.filter((s) => score(v, s) !== null);
    if (mine.length === 0) continue;
    const salt = ethers.id(`salt ${v}`);
    salts.set(v, salt);
    await arena.connect(by(ctx, v)).commitScores(taskId, mine, mine.map((s) => commitmentOf(taskId, s, v, score(v, s), salt)));
  }
  const t = await arena.getTask(taskId);
  const now = BigInt((await ethers.provider.getBlock("latest")).timestamp);
  await increase(t.commitDeadline - now + 1n);
  for (const [v, subs] of assigned) {
    const mine = subs.filter((s) => score(v, s) !== null && reveal(v, s));
    if (mine.length === 0) continue;
    await arena.connect(by(ctx, v)).revealScores(taskId, mine, mine.map((s) => score(v, s)), mine.map(() => salts.get(v)));
  }
  await increase(Number(t.revealWindow) + 1);
  const model = await modelInput(arena, taskId);
  const rc = await (await arena.connect(finalizer).finalize(taskId)).wait();
  return { assigned, model, expected: arenaSettle(model), rc };
}

/// The settlement input as the contract will build it, read from its views.
async function modelInput(arena, taskId) {
  const t = await arena.getTask(taskId);
  const subs = await arena.submissions(taskId);
  const vals = await arena.validators(taskId);
  const x = { pot: t.pool, gammaBps: t.gammaBps, rankRatioBps: t.rankRatioBps, toleranceBps: t.toleranceBps, slashBps: t.slashBps, nodeStake: [], validatorStake: [], validatorOwnStake: [], entries: [] };
  for (const a of subs) {
    const p = await arena.participant(taskId, a);
    x.nodeStake.push(p.stake + p.delegated);
  }
  for (const a of vals) {
    const p = await arena.participant(taskId, a);
    x.validatorStake.push(p.stake + p.delegated);
    x.validatorOwnStake.push(p.stake);
  }
  const commits = (await arena.queryFilter(arena.filters.ScoreCommitted(taskId))).sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  for (const ev of commits) {
    const s = Number(ev.args.submission);
    const e = await arena.scoreOf(taskId, s, ev.args.validator);
    x.entries.push({ sub: s, validator: vals.indexOf(ev.args.validator), revealed: e.revealed, score: e.score });
  }
  return x;
}

module.exports.populate = populate;
module.exports.assignmentOf = assignmentOf;
module.exports.scoreAndFinalize = scoreAndFinalize;
module.exports.modelInput = modelInput;
module.exports.by = by;
