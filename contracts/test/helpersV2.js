// Helpers for AllianceTaskV2's tests: deployment, task parameters, one round driven step by step,
// and the JavaScript model of MedianSettlement (the rule of contracts/test/median_cases.json).
const { ethers, network } = require("hardhat");

const BPS = 10000n;
const MIN_DISAGREEMENTS = 2n; // MedianSettlement.MIN_DISAGREEMENTS
const KIND = { absent: 0, excluded: 1, included: 2, vabsent: 3, unrevealed: 4, revealed: 5 };

const WINDOWS = { propose: 60n, post: 60n, commit: 60n, reveal: 60n, exit: 60n, unbonding: 3600n, taskTimeout: 86400n };

async function deployV2() {
  const signers = await ethers.getSigners();
  const [deployer, aggregator] = signers;
  const token = await (await ethers.getContractFactory("MockToken")).deploy();
  const v2 = await (await ethers.getContractFactory("AllianceTaskV2")).deploy();
  return { signers, deployer, creator: deployer, aggregator, nodes: signers.slice(2), token, v2 };
}

function paramsV2(token, aggregator, over = {}) {
  return {
    token: token.target ?? token,
    rewardPool: 1_000_000n,
    totalRounds: 3n,
    minStake: 100n,
    maxMembers: 500n,
    proposerBps: 5000n,
    slashBps: 1000n,
    quorumBps: 5000n,
    toleranceBps: 2000n,
    aggregator: aggregator.address ?? aggregator,
    modelSpecHash: ethers.id("spec: mlp 784-128-10"),
    initialModelHash: ethers.id("model: round 0"),
    ruleHash: ethers.id("rule: trimmed-mean 0.2"),
    windows: { ...WINDOWS, ...(over.windows ?? {}) },
    ...Object.fromEntries(Object.entries(over).filter(([k]) => k !== "windows")),
  };
}

async function createTaskV2(ctx, over = {}, creator = ctx.creator) {
  const { token, v2, aggregator } = ctx;
  const p = paramsV2(token, aggregator, over);
  await token.mint(creator.address, p.rewardPool);
  await token.connect(creator).approve(v2.target, p.rewardPool);
  const rc = await (await v2.connect(creator).createTask(p)).wait();
  return rc.logs.map((l) => v2.interface.parseLog(l)).find((e) => e && e.name === "TaskCreated").args.taskId;
}

async function stakeJoin(ctx, taskId, node, amount, join = true) {
  const { token, v2 } = ctx;
  await token.mint(node.address, amount);
  await token.connect(node).approve(v2.target, amount);
  await v2.connect(node).stake(taskId, amount);
  if (join) await v2.connect(node).join(taskId);
}

async function increase(seconds) {
  await network.provider.send("evm_increaseTime", [Number(seconds)]);
  await network.provider.send("evm_mine", []);
}

async function mine(n) {
  await network.provider.send("hardhat_mine", [ethers.toQuantity(n)]);
}

function words(n) {
  return Math.ceil(n / 256);
}

/// Bitmap (uint256 words) over participant indices.
function bitmap(indices, count) {
  const w = new Array(words(count)).fill(0n);
  for (const i of indices) w[i >> 8] |= 1n << BigInt(i & 255);
  return w;
}

/// Waits out the exit window, opens the next round, mines the seed block and draws the roles.
/// Returns { round, parts (participant addresses), proposers, voters } (proposers/voters as
/// {addr, index}).
async function openAndDraw(ctx, taskId, opener = ctx.aggregator) {
  const { v2 } = ctx;
  const t = await v2.getTask(taskId);
  const now = BigInt((await ethers.provider.getBlock("latest")).timestamp);
  const opensAt = t.lastClosedAt + t.windows.exit;
  if (now < opensAt) await increase(opensAt - now);
  await v2.connect(opener).openRound(taskId);
  await mine(3);
  await v2.drawRoles(taskId);
  const round = (await v2.getTask(taskId)).currentRound;
  const parts = await v2.participants(taskId);
  const proposers = [];
  const voters = [];
  for (let i = 0; i < parts.length; ++i) {
    const role = await v2.roleOf(taskId, round, parts[i]);
    (role === 1n ? proposers : voters).push({ addr: parts[i], index: i });
  }
  return { round, parts, proposers, voters };
}

/// The seed drawRoles stores: keccak256(blockhash ‖ taskId ‖ round), drawn again as
/// keccak256(seed) while every participant would get the same role (at most MAX_REDRAWS = 8).
function rolesSeed(first, parts, proposerBps) {
  const { isProposer } = require("./helpers");
  const oneRole = (seed) => {
    const p = parts.filter((a) => isProposer(seed, a, proposerBps)).length;
    return p === 0 || p === parts.length;
  };
  let seed = first;
  for (let k = 0; k < 8 && oneRole(seed); ++k) seed = ethers.keccak256(seed);
  return seed;
}

/// openAndDraw until `pred(drawn)` holds; an unfitting draw is left to expire (no candidate by
/// the post deadline) and abandoned by anyone, as the contract allows. Test convenience only.
async function drawUntil(ctx, taskId, pred, tries = 40) {
  for (let k = 0; k < tries; ++k) {
    const drawn = await openAndDraw(ctx, taskId);
    if (pred(drawn)) return drawn;
    const r = await ctx.v2.getRound(taskId, drawn.round);
    const now = BigInt((await ethers.provider.getBlock("latest")).timestamp);
    await increase(r.postDeadline - now + 1n);
    await ctx.v2.connect(ctx.nodes[ctx.nodes.length - 1]).abandonRound(taskId);
  }
  throw new Error("no fitting role draw");
}

/// A voter's commitment, as voteCommitment computes it.
function commitmentOf(taskId, round, voter, score, objections, salt) {
  return ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(
      ["uint256", "uint256", "address", "int16", "uint256[]", "bytes32"],
      [taskId, round, voter, score, objections, salt]
    )
  );
}

/// Plays one round after openAndDraw. plan: { commit: Map(addr→updateHash) of proposers that
/// commit, include: [addr] (subset of committers), votes: Map(addr→{score, objects: [addr],
/// reveal: bool}) }. Signers are looked up by address in ctx.signers. Finalizes (anyone) and
/// returns the RoundFinalized/RoundAbandoned receipt.
async function playRound(ctx, taskId, drawn, plan) {
  const { v2, aggregator } = ctx;
  const by = (a) => ctx.signers.find((s) => s.address === a);
  const idx = (a) => drawn.parts.indexOf(a);
  for (const [a, h] of plan.commit ?? new Map()) await v2.connect(by(a)).commitUpdate(taskId, drawn.round, h);
  const r0 = await v2.getRound(taskId, drawn.round);
  if (r0.updateCommits < r0.proposerCount) await increase(61);
  const inc = bitmap((plan.include ?? []).map(idx), drawn.parts.length);
  await v2.connect(plan.poster ?? aggregator).postCandidate(taskId, drawn.round, plan.modelHash ?? ethers.id(`model ${drawn.round}`), inc);
  const salts = new Map();
  for (const [a, v] of plan.votes ?? new Map()) {
    const salt = ethers.id(`salt ${a} ${drawn.round}`);
    salts.set(a, salt);
    const obj = bitmap((v.objects ?? []).map(idx), drawn.parts.length);
    await v2.connect(by(a)).commitVote(taskId, drawn.round, commitmentOf(taskId, drawn.round, a, v.score, obj, salt));
  }
  const r1 = await v2.getRound(taskId, drawn.round);
  if (r1.voteCommits < r1.voterCount) await increase(61);
  let allRevealed = true;
  for (const [a, v] of plan.votes ?? new Map()) {
    if (v.reveal === false) {
      allRevealed = false;
      continue;
    }
    const obj = bitmap((v.objects ?? []).map(idx), drawn.parts.length);
    await v2.connect(by(a)).revealVote(taskId, drawn.round, v.score, obj, salts.get(a));
  }
  if (!allRevealed) await increase(61);
  return (await v2.connect(plan.finalizer ?? ctx.nodes[ctx.nodes.length - 1]).finalizeRound(taskId)).wait();
}

/// Committed updates (proposers not absent) on which a voter's bitmap (uint256 words, bigint)
/// differs from the objection consensus `objected` (a Set of indices).
function disagreementsOf(bits, nodes, objected) {
  let d = 0n;
  nodes.forEach((m, j) => {
    if (m.kind !== KIND.excluded && m.kind !== KIND.included) return;
    const w = (bits ?? [])[j >> 8] ?? 0n;
    const b = ((BigInt(w) >> BigInt(j & 255)) & 1n) === 1n;
    if (b !== objected.has(j)) d += 1n;
  });
  return d;
}

/// The JavaScript model of MedianSettlement.settle. nodes: [{ id, kind (KIND value), stake,
/// score?, objectionStake?, objections? (revealed voters: bitmap words) }]. Amounts are bigint.
function settleV2({ pool, roundsLeft, slashBps, quorumBps, toleranceBps, nodes }) {
  [pool, roundsLeft, slashBps, quorumBps, toleranceBps] = [pool, roundsLeft, slashBps, quorumBps, toleranceBps].map(BigInt);
  const o = { quorum: false, median: 0n, accepted: false, revealedStake: 0n, voterStake: 0n, winnerStake: 0n, pot: 0n, paid: 0n, slashed: 0n, poolAfter: pool, creatorCredit: 0n, reward: nodes.map(() => 0n), slash: nodes.map(() => 0n), disagreements: nodes.map(() => 0n) };
  for (const n of nodes) {
    if (n.kind >= KIND.vabsent) o.voterStake += BigInt(n.stake);
    if (n.kind === KIND.revealed) o.revealedStake += BigInt(n.stake);
  }
  o.quorum = o.revealedStake > 0n && o.revealedStake * BPS >= quorumBps * o.voterStake;
  if (!o.quorum) return o;
  const rev = nodes.filter((n) => n.kind === KIND.revealed).sort((a, b) => (BigInt(a.score) < BigInt(b.score) ? -1 : BigInt(a.score) > BigInt(b.score) ? 1 : 0));
  let cum = 0n;
  for (const n of rev) {
    cum += BigInt(n.stake);
    if (2n * cum >= o.revealedStake) {
      o.median = BigInt(n.score);
      break;
    }
  }
  o.accepted = o.median >= 0n;
  const committed = nodes.filter((n) => n.kind === KIND.excluded || n.kind === KIND.included).length;
  const objected = new Set();
  nodes.forEach((n, j) => {
    if ((n.kind === KIND.excluded || n.kind === KIND.included) && 2n * BigInt(n.objectionStake ?? 0n) > o.revealedStake) objected.add(j);
  });
  const cls = nodes.map((n, i) => {
    if (n.kind === KIND.revealed) {
      const d = BigInt(n.score) - o.median;
      o.disagreements[i] = disagreementsOf(n.objections, nodes, objected);
      if ((d < 0n ? -d : d) > toleranceBps) return 2;
      return o.disagreements[i] >= MIN_DISAGREEMENTS && 2n * o.disagreements[i] > BigInt(committed) ? 2 : 1;
    }
    if (n.kind === KIND.unrevealed) return 2;
    if (n.kind === KIND.vabsent) return 0;
    if (n.kind === KIND.absent || objected.has(i)) return 2;
    return n.kind === KIND.included ? 1 : 0;
  });
  nodes.forEach((n, i) => {
    if (cls[i] === 1) o.winnerStake += BigInt(n.stake);
    if (cls[i] === 2) {
      o.slash[i] = (BigInt(n.stake) * slashBps) / BPS;
      o.slashed += o.slash[i];
    }
  });
  o.pot = pool / roundsLeft + o.slashed;
  if (o.winnerStake > 0n)
    nodes.forEach((n, i) => {
      if (cls[i] !== 1) return;
      o.reward[i] = (o.pot * BigInt(n.stake)) / o.winnerStake;
      o.paid += o.reward[i];
    });
  o.poolAfter = pool + o.slashed - o.paid;
  if (roundsLeft === 1n) {
    o.creatorCredit = o.poolAfter;
    o.poolAfter = 0n;
  }
  return o;
}

/// A case of median_cases.json as settleV2's (and the harness's) input: objection stakes are the
/// summed stakes of the revealed voters that object to each proposer; each revealed voter's
/// bitmap has a bit per id it names (as the voter reveals it: bits on voters or absent proposers
/// included, which the rule ignores).
function caseInput(c) {
  const nodes = c.nodes.map((n) => ({
    id: n.id,
    kind: n.role === "proposer" ? KIND[n.status] : n.status === "absent" ? KIND.vabsent : KIND[n.status],
    stake: BigInt(n.stake),
    score: n.status === "revealed" ? BigInt(n.score) : 0n,
    objectionStake: 0n,
    objections: [],
  }));
  c.nodes.forEach((n, i) => {
    if (n.role !== "voter" || n.status !== "revealed") return;
    const idx = (n.objects ?? []).map((id) => c.nodes.findIndex((m) => m.id === id));
    nodes[i].objections = idx.length ? bitmap(idx, c.nodes.length) : [];
    for (const j of new Set(idx)) {
      if (c.nodes[j].role === "proposer" && c.nodes[j].status !== "absent") nodes[j].objectionStake += nodes[i].stake;
    }
  });
  return { pool: BigInt(c.pool), roundsLeft: BigInt(c.roundsLeft), slashBps: BigInt(c.slashBps), quorumBps: BigInt(c.quorumBps), toleranceBps: BigInt(c.toleranceBps), nodes };
}

module.exports = { BPS, MIN_DISAGREEMENTS, KIND, WINDOWS, deployV2, paramsV2, createTaskV2, stakeJoin, increase, mine, bitmap, openAndDraw, drawUntil, rolesSeed, commitmentOf, playRound, settleV2, disagreementsOf, caseInput };
