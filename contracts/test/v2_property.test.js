// Property test of AllianceTaskV2: 200 seeded random sequences of stake / join / leave / unstake /
// withdraw / open / draw / commit / post / vote / reveal / finalize / abandon / claim / cancel /
// set-aggregator / equivocation reports / time jumps, each on its own task of one deployment.
// After every applied step (and at the end of each sequence) every token is accounted for:
//   token.balanceOf(v2) = Σ_tasks (pool + creatorBalance) + Σ_(task, node) (stake + reward + pending)
//   token.totalSupply() = balanceOf(v2) + Σ balances of the accounts (nothing created or lost)
// and every finalization matches the JS model of MedianSettlement (helpersV2.settleV2) node by node.
// V2_PROPERTY_SEQUENCES changes the count (default 200); PROPERTY_SHARD=k/n runs a part of them
// (test/propertyShard.js).
const { expect } = require("chai");
const { ethers } = require("hardhat");
const h = require("./helpersV2");
const { rawView } = require("./rawView");
const { propertyShard } = require("./propertyShard");

const SEQUENCES = Number(process.env.V2_PROPERTY_SEQUENCES || 200);
const STEPS = 16;
const SHARD = propertyShard(SEQUENCES);

function prng(seed) {
  let s = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  return (n) => {
    s ^= (s << 13n) & 0xffffffffffffffffn;
    s ^= s >> 7n;
    s ^= (s << 17n) & 0xffffffffffffffffn;
    return Number(s % BigInt(n));
  };
}

describe("AllianceTaskV2 property: every token accounted for", function () {
  it(`${SHARD.seqs.length} random sequences${SHARD.label}`, async function () {
    const ctx = await h.deployV2();
    const { v2, token, signers } = ctx;
    const accounts = signers.slice(0, 12); // creator, aggregator, 10 nodes (across all tasks)
    const tasks = [];
    const counts = { finalized: 0, abandoned: 0, reverted: 0, ok: 0 };
    const { chainId } = await ethers.provider.getNetwork();
    const domain = { name: "Murmuration", version: "1", chainId, verifyingContract: v2.target };
    const uTypes = { Update: [{ name: "taskId", type: "uint256" }, { name: "round", type: "uint256" }, { name: "updateHash", type: "bytes32" }, { name: "numSamples", type: "uint256" }] };

    // Every account holds tokens and has approved the contract once; stakes and pools come from these.
    for (const a of accounts) {
      await token.mint(a.address, 10n ** 15n);
      await token.connect(a).approve(v2.target, ethers.MaxUint256);
    }
    async function newTask(over, creator, aggregator) {
      const p = h.paramsV2(token, aggregator, over);
      const rc = await (await v2.connect(creator).createTask(p)).wait();
      return rc.logs.map((l) => v2.interface.parseLog(l)).find((e) => e && e.name === "TaskCreated").args.taskId;
    }
    async function stakeJoin(id, who, amount, join) {
      await v2.connect(who).stake(id, amount);
      if (join) await v2.connect(who).join(id);
    }
    let othersInside = 0n; // tokens the contract owes on the tasks of finished sequences

    // The reads of the checks after every step, through raw eth_calls (test/rawView.js); the
    // first sequence checks them against the same reads through the contract objects.
    const readHeld = rawView(token, "balanceOf", [v2.target]);
    const readOutside = accounts.map((a) => rawView(token, "balanceOf", [a.address]));
    const readSupply = rawView(token, "totalSupply", []);
    async function insideOf(t) {
      t.reads ??= { task: rawView(v2, "getTask", [t.id]), nodes: t.nodes.map((a) => rawView(v2, "nodeInfo", [t.id, a.address])) };
      const [tk, ...ns] = await Promise.all([t.reads.task(), ...t.nodes.map((a, i) => t.reads.nodes[i]())]);
      if (t.id === 1n) {
        const tk1 = await v2.getTask(t.id);
        expect([tk.pool, tk.creatorBalance], "rawView getTask").to.deep.equal([tk1.pool, tk1.creatorBalance]);
        for (const [i, a] of t.nodes.entries()) {
          const n1 = await v2.nodeInfo(t.id, a.address);
          expect([ns[i].stake, ns[i].reward, ns[i].pending], "rawView nodeInfo").to.deep.equal([n1.stake, n1.reward, n1.pending]);
        }
      }
      let inside = tk.pool + tk.creatorBalance;
      for (const n of ns) inside += n.stake + n.reward + n.pending;
      return inside;
    }

    async function accounted(t) {
      const [held, inside] = await Promise.all([readHeld(), insideOf(t)]);
      if (t.id === 1n) expect(held, "rawView balanceOf").to.equal(await token.balanceOf(v2.target));
      expect(held, "contract balance = Σ pools, creator balances, stakes, rewards, unbonding").to.equal(othersInside + inside);
    }

    async function conserved() {
      let outside = 0n;
      for (const r of readOutside) outside += await r();
      const supply = await readSupply();
      if (tasks.length === 1) expect(supply, "rawView totalSupply").to.equal(await token.totalSupply());
      expect((await readHeld()) + outside, "no token created or lost").to.equal(supply);
    }

    for (const seq of SHARD.seqs) {
      const rnd = prng(seq + 1);
      const creator = accounts[rnd(2) === 0 ? 0 : 11];
      const aggregator = accounts[1];
      const nodes = accounts.slice(2, 11).filter(() => rnd(3) !== 0).slice(0, 6);
      if (nodes.length < 2) nodes.push(accounts[2], accounts[3]);
      const over = {
        rewardPool: BigInt(rnd(1_000_000)),
        totalRounds: BigInt(1 + rnd(3)),
        minStake: 100n,
        maxMembers: BigInt(2 + rnd(5)),
        proposerBps: BigInt(1 + rnd(9999)),
        slashBps: BigInt(rnd(10001)),
        quorumBps: BigInt(1 + rnd(8000)),
        toleranceBps: BigInt(rnd(20001)),
        windows: { propose: 60n, post: 60n, commit: 60n, reveal: 60n, exit: 60n, unbonding: BigInt(rnd(2) * 500), taskTimeout: 300n },
      };
      const id = await newTask(over, creator, aggregator);
      const t = { id, nodes: [...new Set([...nodes, creator])], committed: new Map(), roles: new Map() };
      tasks.push(t);
      const salt = ethers.id(`salt ${seq}`);
      // Each sequence starts with a few members (stake + join; a join can fail on maxMembers).
      for (const n of t.nodes.slice(0, 2 + rnd(4))) {
        try {
          await stakeJoin(id, n, BigInt(100 + rnd(5000)), true);
        } catch (e) {
          if (!/TaskFull/.test(e.message)) throw e;
        }
      }
      await accounted(t);
      const pick = (arr) => arr[rnd(arr.length)];

      for (let step = 0; step < STEPS; ++step) {
        const tk = await v2.getTask(id);
        const [r, parts0] = await Promise.all([v2.getRound(id, tk.currentRound), tk.inFlight ? v2.participants(id) : []]);
        const inFlight = tk.inFlight;
        const who = pick(t.nodes);
        let action = inFlight ? 9 : [0, 1, 2, 3, 4, 5, 5, 5, 5, 6, 7][rnd(11)];
        try {
          if (!inFlight) {
            await [
              async () => stakeJoin(id, who, BigInt(50 + rnd(2000)), rnd(2) === 0),
              async () => v2.connect(who).join(id),
              async () => v2.connect(who).joinDisplacing(id, pick(t.nodes).address),
              async () => v2.connect(who).leave(id),
              async () => v2.connect(who).unstake(id, BigInt(1 + rnd(1500))),
              async () => h.openAndDraw({ ...ctx, aggregator }, id),
              async () => (rnd(2) ? v2.connect(who).claim(id) : v2.connect(who).withdraw(id)),
              async () => (rnd(2) ? v2.connect(creator).cancelTask(id) : h.increase(rnd(2) ? 61 : 400)),
            ][action]();
          } else {
            // A round is in flight: its own steps (stake/leave/... are tried too, bound nodes are refused).
            if (rnd(8) === 0) {
              await [() => v2.connect(who).leave(id), () => v2.connect(who).unstake(id, 1n), () => stakeJoin(id, who, 100n, true), () => v2.connect(creator).cancelTask(id)][rnd(4)]();
            }
            const parts = parts0;
            const by = (a) => signers.find((s) => s.address === a);
            const key = `${tk.currentRound}`;
            if (r.seed !== ethers.ZeroHash && !t.roles.has(key)) t.roles.set(key, await Promise.all(parts.map((a) => v2.roleOf(id, tk.currentRound, a))));
            const roles = t.roles.get(key) ?? [];
            const props = parts.filter((a, i) => roles[i] === 1n);
            const voters = parts.filter((a, i) => roles[i] === 0n);
            action = rnd(9);
            if (r.state === 1n) {
              await (rnd(4) ? h.mine(3).then(() => v2.drawRoles(id)) : h.mine(300).then(() => v2.abandonRound(id)));
            } else if (r.state === 2n && action < 7 && props.length) {
              const es = await Promise.all(props.map((p) => v2.entryOf(id, tk.currentRound, p)));
              const pending = props.filter((p, i) => es[i].commitment === ethers.ZeroHash);
              const p = pending.length && rnd(5) ? pick(pending) : pick(props);
              await v2.connect(by(p)).commitUpdate(id, tk.currentRound, ethers.id(`u ${seq} ${p}`));
            } else if (r.state === 2n && action < 8) {
              const inc = [];
              for (let i = 0; i < parts.length; ++i) if (roles[i] === 1n && (await v2.entryOf(id, tk.currentRound, parts[i])).commitment !== ethers.ZeroHash && rnd(3)) inc.push(i);
              if (rnd(3) === 0) await h.increase(61);
              await v2.connect(aggregator).postCandidate(id, tk.currentRound, ethers.id(`m ${seq} ${step}`), h.bitmap(inc, parts.length));
            } else if (r.state === 2n) {
              await h.increase(130);
              await v2.connect(who).abandonRound(id);
            } else if (r.state === 3n) {
              const es = await Promise.all(voters.map((a) => v2.entryOf(id, tk.currentRound, a)));
              const pending = voters.filter((a, i) => !es[i].revealed);
              const choice = pending.length && rnd(10) ? 0 : rnd(3);
              if (choice === 0 && voters.length) {
                const v = pending.length && rnd(8) ? pick(pending) : pick(voters);
                const e = await v2.entryOf(id, tk.currentRound, v);
                const score = rnd(3) ? 2000 + rnd(3000) - 1500 : rnd(20001) - 10000;
                const obj = h.bitmap(parts.map((_, i) => i).filter(() => rnd(4) === 0), parts.length);
                if (e.commitment === ethers.ZeroHash) {
                  t.committed.set(v, { score, obj });
                  await v2.connect(by(v)).commitVote(id, tk.currentRound, h.commitmentOf(id, tk.currentRound, v, score, obj, salt));
                } else {
                  const c = t.committed.get(v);
                  const rr = await v2.getRound(id, tk.currentRound);
                  if (rr.voteCommits < rr.voterCount && rnd(3)) await h.increase(61);
                  await v2.connect(by(v)).revealVote(id, tk.currentRound, c.score, c.obj, salt);
                }
              } else if (choice === 1 && props.length) {
                const p = pick(props);
                const sig = await by(p).signTypedData(domain, uTypes, { taskId: id, round: tk.currentRound, updateHash: ethers.id("other"), numSamples: 1 });
                await v2.connect(who).reportEquivocation(id, tk.currentRound, p, ethers.id("other"), 1, sig);
              } else {
                if (rnd(2)) await h.increase(130);
                await finalizeChecked(id, tk, parts, roles, t);
              }
            } else {
              if (rnd(2)) await h.increase(130);
              await finalizeChecked(id, tk, parts, roles, t);
            }
          }
          counts.ok += 1;
          await accounted(t); // (a refused step reverted atomically: nothing to re-check)
        } catch (e) {
          if (process.env.V2_DEBUG) console.log(seq, step, String(r.state), e.message.slice(0, 120));
          if (!/reverted|TooEarly|TooLate/.test(e.message)) throw e;
          counts.reverted += 1;
        }
      }
      await accounted(t);
      othersInside += await insideOf(t);
      await conserved();
    }

    /// Finalizes and compares every participant's stake and reward change with the JS model (which
    /// counts each revealed voter's disagreements with the objection consensus from the bitmap it
    /// revealed, and so checks the bitmaps the contract kept).
    async function finalizeChecked(id, tk, parts, roles, t) {
      const round = tk.currentRound;
      const x = { pool: tk.pool, roundsLeft: tk.totalRounds - tk.finalizedRounds, slashBps: tk.slashBps, quorumBps: tk.quorumBps, toleranceBps: tk.toleranceBps, nodes: [] };
      const inc = await v2.includedOf(id, round);
      const before = [];
      for (let i = 0; i < parts.length; ++i) {
        const n = await v2.nodeInfo(id, parts[i]);
        const e = await v2.entryOf(id, round, parts[i]);
        before.push(n);
        let kind;
        if (roles[i] === 1n) kind = e.commitment === ethers.ZeroHash ? h.KIND.absent : (inc[i >> 8] >> BigInt(i & 255)) & 1n ? h.KIND.included : h.KIND.excluded;
        else kind = e.revealed ? h.KIND.revealed : e.commitment === ethers.ZeroHash ? h.KIND.vabsent : h.KIND.unrevealed;
        // A revealed voter's bitmap as it revealed it (bits the rule ignores included).
        const objections = kind === h.KIND.revealed ? t.committed.get(parts[i]).obj : [];
        x.nodes.push({ kind, stake: n.stake, score: e.score, objectionStake: roles[i] === 1n && e.commitment !== ethers.ZeroHash ? await v2.objectionStake(id, round, i) : 0n, objections });
      }
      const o = h.settleV2(x);
      await v2.connect(ctx.signers[20]).finalizeRound(id);
      const r = await v2.getRound(id, round);
      expect(r.state).to.equal(o.quorum ? 4n : 5n);
      if (o.quorum) counts.finalized += 1;
      else counts.abandoned += 1;
      for (let i = 0; i < parts.length; ++i) {
        const n = await v2.nodeInfo(id, parts[i]);
        expect(before[i].stake - n.stake).to.equal(o.slash[i]);
        expect(n.reward - before[i].reward).to.equal(o.reward[i]);
      }
      const t2 = await v2.getTask(id);
      expect(t2.pool).to.equal(o.poolAfter);
      expect(t2.creatorBalance - tk.creatorBalance).to.equal(o.creatorCredit);
    }

    console.log(`      ${SHARD.seqs.length} sequences × ${STEPS} steps: ${counts.ok} steps applied, ${counts.reverted} refused, ${counts.finalized} rounds finalized, ${counts.abandoned} abandoned at finalize (no quorum)`);
    expect(counts.finalized).to.be.greaterThan(SHARD.seqs.length / 10);
    expect(counts.abandoned).to.be.greaterThan(0);
  });
});
