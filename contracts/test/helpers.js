// Shared test helpers: deployment, EIP-712 vote signing, role control, and the reference model of
// the consensus arithmetic documented in AllianceTask.sol and README.md.
const { ethers, network } = require("hardhat");

const BPS = 10000n;
const CREATOR_SLASH_BPS = 1000n;
const ZERO_HASH = ethers.ZeroHash;

const VOTE_TYPES = {
  Vote: [
    { name: "taskId", type: "uint256" },
    { name: "round", type: "uint256" },
    { name: "modelHash", type: "bytes32" },
    { name: "score", type: "int8" },
  ],
};

async function deploy() {
  const signers = await ethers.getSigners();
  const [deployer, aggregator] = signers;
  const token = await (await ethers.getContractFactory("MockToken")).deploy();
  const alliance = await (await ethers.getContractFactory("AllianceTask")).deploy();
  return { signers, deployer, creator: deployer, aggregator, nodes: signers.slice(2), token, alliance };
}

/// Default task parameters; override any field.
function taskParams(token, aggregator, over = {}) {
  return {
    token: token.target ?? token,
    rewardPool: 1_000_000n,
    totalRounds: 3n,
    minStake: 100n,
    proposerBps: 5000n,
    slashBps: 1000n,
    aggregator: aggregator.address ?? aggregator,
    modelSpecHash: ethers.id("spec: mlp 784-128-10"),
    initialModelHash: ethers.id("model: round 0"),
    ...over,
  };
}

/// Mints and approves the pool, creates the task, returns its id.
async function createTask(ctx, over = {}) {
  const { token, alliance, creator, aggregator } = ctx;
  const p = taskParams(token, aggregator, over);
  await token.mint(creator.address, p.rewardPool);
  await token.connect(creator).approve(alliance.target, p.rewardPool);
  const tx = await alliance.connect(creator).createTask(p);
  const rc = await tx.wait();
  const ev = rc.logs.map((l) => alliance.interface.parseLog(l)).find((e) => e && e.name === "TaskCreated");
  return ev.args.taskId;
}

async function stakeAndJoin(ctx, taskId, node, amount) {
  const { token, alliance } = ctx;
  await token.mint(node.address, amount);
  await token.connect(node).approve(alliance.target, amount);
  await alliance.connect(node).stake(taskId, amount);
  await alliance.connect(node).join(taskId);
}

async function domain(alliance) {
  const { chainId } = await ethers.provider.getNetwork();
  return { name: "Murmuration", version: "1", chainId, verifyingContract: alliance.target };
}

/// A signed vote as finalizeRound takes it: [voter, score, signature].
async function signVote(alliance, signer, taskId, round, modelHash, score) {
  const sig = await signer.signTypedData(await domain(alliance), VOTE_TYPES, { taskId, round, modelHash, score });
  return { voter: signer.address, score, signature: sig };
}

/// role(seed, node) exactly as the contract: keccak256(seed ‖ node) mod 10000 < proposerBps.
function isProposer(seed, address, proposerBps) {
  const h = BigInt(ethers.keccak256(ethers.solidityPacked(["bytes32", "address"], [seed, address])));
  return h % BPS < BigInt(proposerBps);
}

/// The seed startRound will derive if the next block has this prevrandao.
function predictSeed(prevrandao, parentHash, taskId, round) {
  return ethers.keccak256(
    ethers.solidityPacked(["uint256", "bytes32", "uint256", "uint256"], [prevrandao, parentHash, taskId, round])
  );
}

/// Starts the next round with the next block's prevrandao chosen (hardhat_setPrevRandao) so that
/// `accept(seed)` holds. Returns { round, seed, prevrandao, tries }.
async function startRoundWhere(ctx, taskId, accept, maxTries = 200000) {
  const { alliance, aggregator } = ctx;
  const t = await alliance.getTask(taskId);
  const round = t.currentRound + 1n;
  const parent = await ethers.provider.getBlock("latest");
  for (let k = 1n; k <= BigInt(maxTries); ++k) {
    const seed = predictSeed(k, parent.hash, taskId, round);
    if (!accept(seed)) continue;
    await network.provider.send("hardhat_setPrevRandao", [ethers.toBeHex(k, 32)]);
    await alliance.connect(aggregator).startRound(taskId);
    const r = await alliance.getRound(taskId, round);
    if (r.seed !== seed) throw new Error(`seed prediction failed: ${r.seed} != ${seed}`);
    return { round, seed, prevrandao: k, tries: k };
  }
  throw new Error(`no prevrandao within ${maxTries} tries gives the wanted roles`);
}

/// Starts the next round so that each node in `roles` (array of {signer, role: "proposer"|"voter"})
/// gets exactly that role.
async function startRoundWithRoles(ctx, taskId, roles, proposerBps) {
  return startRoundWhere(ctx, taskId, (seed) =>
    roles.every((n) => isProposer(seed, n.signer.address, proposerBps) === (n.role === "proposer"))
  );
}

/// Reference model of one round's settlement (the formula in AllianceTask.sol / README.md).
/// nodes: [{ id, role: "proposer"|"voter", stake: bigint, flagged?: bool, vote?: 1|-1|0 }]
function settle({ pool, roundsLeft, slashBps, nodes }) {
  pool = BigInt(pool);
  roundsLeft = BigInt(roundsLeft);
  slashBps = BigInt(slashBps);
  let sum = 0n;
  for (const n of nodes) if (n.role === "voter" && n.vote) sum += BigInt(n.vote) * BigInt(n.stake);
  const accepted = sum >= 0n;
  const R = pool / roundsLeft;
  const winner = (n) =>
    accepted
      ? (n.role === "proposer" && !n.flagged) || (n.role === "voter" && n.vote === 1)
      : n.role === "voter" && n.vote === -1;
  const loser = (n) =>
    accepted ? n.role === "voter" && n.vote === -1 : n.role === "proposer" || (n.role === "voter" && n.vote === 1);
  let winnerStake = 0n;
  for (const n of nodes) if (winner(n)) winnerStake += BigInt(n.stake);
  const out = {};
  let paid = 0n;
  let slashed = 0n;
  for (const n of nodes) {
    let reward = 0n;
    let slash = 0n;
    if (winner(n) && winnerStake > 0n) reward = (R * BigInt(n.stake)) / winnerStake;
    if (loser(n)) slash = (BigInt(n.stake) * slashBps) / BPS;
    paid += reward;
    slashed += slash;
    out[n.id] = { reward, slash };
  }
  const toCreator = (slashed * CREATOR_SLASH_BPS) / BPS;
  const toPool = slashed - toCreator;
  let poolAfter = pool - paid + toPool;
  let creatorCredit = toCreator;
  if (roundsLeft === 1n) {
    creatorCredit += poolAfter;
    poolAfter = 0n;
  }
  return { voteSum: sum, accepted, roundReward: R, nodes: out, paid, slashed, toPool, toCreator, poolAfter, creatorCredit };
}

module.exports = {
  BPS,
  CREATOR_SLASH_BPS,
  ZERO_HASH,
  VOTE_TYPES,
  deploy,
  taskParams,
  createTask,
  stakeAndJoin,
  domain,
  signVote,
  isProposer,
  predictSeed,
  startRoundWhere,
  startRoundWithRoles,
  settle,
};
