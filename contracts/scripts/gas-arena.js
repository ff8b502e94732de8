// Gas of one ArenaTask (issue 17) for a few sizes, on the Hardhat network:
//   npx hardhat run scripts/gas-arena.js          prints the table of contracts/README.md
// test/arena_gas.test.js runs the same measurement and checks the per-transaction gas cap.
// Every node and validator stakes a distinct amount, some with a delegator (SIZES); every
// node submits; every validator commits and reveals a score near the truth for each of its
// assigned submissions (one batch each), so every submission has a consensus and every assigned
// validator is paid: the costliest settlement. Every assignment is checked against the JS sampling.
const hre = require("hardhat");
const { ethers, network } = hre;
const h = require("../test/helpersArena");

const TX_GAS_CAP = 2n ** 24n; // EIP-7825
const E = 10n ** 18n;

/// n accounts with distinct keys and 1000 ETH each, sent from as impersonated accounts
/// (hardhat_impersonateAccount): the same gas as a Wallet's transactions, without signing each in
/// JavaScript and asking the node for an estimate, a nonce and fees first.
async function wallets(n, offset) {
  const out = [];
  for (let i = 0; i < n; ++i) {
    const { address } = new ethers.Wallet(ethers.keccak256(ethers.toBeHex(2_000_000 + offset + i, 32)));
    await network.provider.send("hardhat_setBalance", [address, "0x3635C9ADC5DEA00000"]);
    out.push(await ethers.getImpersonatedSigner(address));
  }
  return out;
}

const gasOf = async (txp) => (await (await txp).wait()).gasUsed;
const avg = (a) => (a.length === 0 ? 0n : a.reduce((x, y) => x + y, 0n) / BigInt(a.length));

/// One task with n nodes, m validators, k validators per submission, d delegators (one delegation
/// each, to every other participant in turn).
async function measure(n, m, k, d, offset = 0) {
  const [creator] = await ethers.getSigners();
  const token = await (await ethers.getContractFactory("MockToken")).deploy();
  const arena = await (await ethers.getContractFactory("ArenaTask")).deploy();
  const ctx = { token, arena, creator };
  const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: k, minNodeStake: E, minValidatorStake: E, submitWindow: 86400n });
  const nodes = await wallets(n, offset);
  const vals = await wallets(m, offset + 1000);
  const dels = await wallets(d, offset + 2000);
  const gas = { stake: [], delegate: [], submit: [], commit: [], reveal: [], claim: [] };
  for (const [i, w] of [...nodes, ...vals].entries()) {
    await token.mint(w.address, 1000n * E);
    await token.connect(w).approve(arena.target, ethers.MaxUint256);
    gas.stake.push(await gasOf(arena.connect(w).stake(taskId, i < n ? h.ROLE.node : h.ROLE.validator, BigInt(10 + i) * E, 1000)));
  }
  const all = [...nodes, ...vals];
  for (const [j, dw] of dels.entries()) {
    await token.mint(dw.address, 100n * E);
    await token.connect(dw).approve(arena.target, ethers.MaxUint256);
    gas.delegate.push(await gasOf(arena.connect(dw).delegate(taskId, all[(2 * j) % all.length].address, 5n * E)));
  }
  for (const [i, w] of nodes.entries()) gas.submit.push(await gasOf(arena.connect(w).submit(taskId, ethers.id(`gas adapter ${i}`), `http://127.0.0.1:8600/adapters/${i}`)));
  const t0 = await arena.getTask(taskId);
  await h.increase(t0.submitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
  const close = await gasOf(arena.closeSubmissions(taskId));
  await h.mine(3);
  const draw = await gasOf(arena.drawAssignments(taskId));
  // The contract's assignments, checked against the JS sampling (test/helpersArena.js#picks).
  const seed = (await arena.getTask(taskId)).seed;
  const cum = [];
  let c = 0n;
  for (const w of vals) {
    const p = await arena.participant(taskId, w.address);
    cum.push((c += p.stake + p.delegated));
  }
  const assigned = new Map();
  for (let s = 0; s < n; ++s) {
    const got = await arena.assignees(taskId, s);
    const want = h.picks(seed, s, cum, Math.min(k, m)).map((i) => vals[i].address);
    if (got.join() !== want.join()) throw new Error(`assignees(${s}) ${got} differ from the JS sampling ${want}`);
    for (const v of got) assigned.set(v, [...(assigned.get(v) ?? []), s]);
  }
  const salt = ethers.id("gas salt");
  const score = (v, s) => 1_000_000n + 10_000n * BigInt(s) + BigInt(parseInt(v.slice(2, 6), 16) % 100);
  for (const w of vals) {
    const subs = assigned.get(w.address) ?? [];
    if (subs.length) gas.commit.push(await gasOf(arena.connect(w).commitScores(taskId, subs, subs.map((s) => h.commitmentOf(taskId, s, w.address, score(w.address, s), salt)))));
  }
  const t = await arena.getTask(taskId);
  await h.increase(t.commitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
  for (const w of vals) {
    const subs = assigned.get(w.address) ?? [];
    if (subs.length) gas.reveal.push(await gasOf(arena.connect(w).revealScores(taskId, subs, subs.map((s) => score(w.address, s)), subs.map(() => salt))));
  }
  await h.increase(Number(t.revealWindow) + 1);
  const finalize = await gasOf(arena.finalize(taskId, { gasLimit: TX_GAS_CAP }));
  // A validator the seed assigned nothing has nothing to claim.
  for (const w of [...nodes.slice(0, 3), ...vals.slice(0, 3)])
    if ((await arena.rewardOf(taskId, w.address)) > 0n) gas.claim.push(await gasOf(arena.connect(w).claim(taskId)));
  const entries = [...assigned.values()].reduce((a, s) => a + s.length, 0);
  return {
    n, m, k, entries, delegators: dels.length,
    gas: { stake: avg(gas.stake), delegate: avg(gas.delegate), submit: avg(gas.submit), close, draw, commit: avg(gas.commit), reveal: avg(gas.reveal), finalize, claim: avg(gas.claim) },
  };
}

function table(rows) {
  const f = (x) => x.toLocaleString("en-US").replace(/,/g, " ");
  const lines = [
    "| nodes / validators / k | entries | delegators | stake | delegate | submit | closeSubmissions | drawAssignments | commitScores (each validator) | revealScores (each validator) | finalize | claim |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const g = r.gas;
    lines.push(`| ${r.n} / ${r.m} / ${r.k} | ${r.entries} | ${r.delegators} | ${f(g.stake)} | ${f(g.delegate)} | ${f(g.submit)} | ${f(g.close)} | ${f(g.draw)} | ${f(g.commit)} | ${f(g.reveal)} | ${f(g.finalize)} | ${f(g.claim)} |`);
  }
  return lines.join("\n");
}

// [nodes, validators, k, delegators]; the last is the largest the contract allows (MAX_NODES,
// MAX_VALIDATORS, MAX_K, MAX_DELEGATIONS).
const SIZES = [
  [4, 4, 3, 2],
  [16, 8, 3, 6],
  [32, 16, 5, 12],
  [64, 64, 8, 64],
];

async function main() {
  const rows = [];
  for (const [i, [n, m, k, d]] of SIZES.entries()) rows.push(await measure(n, m, k, d, i * 10000));
  console.log(table(rows));
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });

module.exports = { measure, table, SIZES, TX_GAS_CAP };
