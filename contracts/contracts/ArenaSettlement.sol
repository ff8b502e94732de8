// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title ArenaSettlement: the reward rule of one AI Arena task (issue 17).
/// @notice Pure integer arithmetic, the same rule as chain/src/arena_settlement.cpp and the JS model
/// in contracts/test/helpersArena.js; all three run contracts/test/arena_cases.json. Scores are
/// losses scaled by 1e6 (lower is better). With n submissions (effective stake T_s = own + delegated),
/// m validators (effective stake S_v, own stake o_v) and the revealed and unrevealed score entries:
///
///   consensus c_s  = min { x : 2 · Σ_{revealed (v,s), score ≤ x} S_v ≥ Σ_{revealed (v,s)} S_v }
///                    (lower stake-weighted median; a submission nobody revealed has no consensus)
///   rank r_s       = #{ s' with consensus : c_s' < c_s }   (ties share the better rank)
///   g_r            = floor(g_{r−1} · rankRatioBps / 10000), g_0 = 1e18   (geometric series, r < n)
///   T = Σ_s T_s, S = Σ_v S_v;  nodePot = floor(pot · (γ·(T+S) + 2·(10000−γ)·T) / (2·10000·(T+S)))
///                    (γ = gammaBps: γ = 10000 splits pot half/half, γ = 0 purely by stake)
///   node reward    = floor(nodePot · g_{r_s}·T_s / Σ_{ranked} g_{r}·T)      (0 without consensus)
///   tol_s          = max(1, floor(c_s · toleranceBps / 10000));  d = |score − c_s|
///   agreement a    = d < tol_s ? floor((tol_s − d) · 10000 / tol_s) : 0    (bps, per revealed entry)
///   slash_v        = floor(o_v · slashBps / 10000) if v left any committed score unrevealed, else 0
///   weight q_v     = slashed ? 0 : S_v · Σ_{revealed (v,s)} a_{v,s}   (stake × validated × agreement)
///   validator reward = floor((pot − nodePot + Σ slash) · q_v / Σ q)          (0 if Σ q = 0)
///   creatorCredit  = pot + Σ slash − Σ rewards    (no consensus, no agreement, rounding)
library ArenaSettlement {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant ONE = 1e18; // g_0
    uint256 internal constant NO_RANK = type(uint256).max;

    struct Input {
        uint256 pot;
        uint256 gammaBps; // 0..10000
        uint256 rankRatioBps; // 1..9999
        uint256 toleranceBps; // 1..10000
        uint256 slashBps; // 0..10000
        uint256[] nodeStake; // T_s: effective stake of the node behind submission s
        uint256[] validatorStake; // S_v: effective stake
        uint256[] validatorOwnStake; // o_v: slashable
        uint256[] entrySub; // committed (validator, submission) entries
        uint256[] entryValidator;
        uint256[] entryScore; // revealed entries only; < 2^64
        bool[] entryRevealed;
    }

    struct Output {
        uint256 nodePot;
        uint256 validatorPot; // pot − nodePot + slashed
        uint256 slashed;
        uint256 paid;
        uint256 creatorCredit;
        bool[] hasConsensus;
        uint256[] consensus;
        uint256[] rank; // NO_RANK without consensus
        uint256[] nodeReward;
        uint256[] validatorReward;
        uint256[] validatorSlash;
        uint256[] validatorWeight; // q_v
    }

    function settle(Input memory x) internal pure returns (Output memory o) {
        uint256 n = x.nodeStake.length;
        uint256 m = x.validatorStake.length;
        o.hasConsensus = new bool[](n);
        o.consensus = new uint256[](n);
        o.rank = new uint256[](n);
        o.nodeReward = new uint256[](n);
        o.validatorReward = new uint256[](m);
        o.validatorSlash = new uint256[](m);
        o.validatorWeight = new uint256[](m);

        _consensus(x, o);
        _ranks(o, n);

        uint256 t = 0;
        uint256 s = 0;
        for (uint256 i = 0; i < n; ++i) t += x.nodeStake[i];
        for (uint256 v = 0; v < m; ++v) s += x.validatorStake[v];
        if (t + s > 0)
            o.nodePot = Math.mulDiv(x.pot, x.gammaBps * (t + s) + 2 * (BPS - x.gammaBps) * t, 2 * BPS * (t + s));

        // Training nodes: geometric weight of the rank times effective stake (ranks are < n).
        uint256[] memory g = new uint256[](n);
        if (n > 0) g[0] = ONE;
        for (uint256 r = 1; r < n; ++r) g[r] = (g[r - 1] * x.rankRatioBps) / BPS;
        uint256[] memory w = new uint256[](n);
        uint256 wSum = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (!o.hasConsensus[i]) continue;
            w[i] = g[o.rank[i]] * x.nodeStake[i];
            wSum += w[i];
        }
        if (wSum > 0)
            for (uint256 i = 0; i < n; ++i) {
                if (w[i] == 0) continue;
                uint256 r = Math.mulDiv(o.nodePot, w[i], wSum);
                o.nodeReward[i] = r;
                o.paid += r;
            }

        // Validators: slash unrevealed commits; weight = stake × Σ agreement.
        for (uint256 e = 0; e < x.entrySub.length; ++e) {
            uint256 v = x.entryValidator[e];
            if (!x.entryRevealed[e] && o.validatorSlash[v] == 0 && x.slashBps > 0) {
                uint256 sl = (x.validatorOwnStake[v] * x.slashBps) / BPS;
                o.validatorSlash[v] = sl;
                o.slashed += sl;
            }
        }
        bool[] memory silent = new bool[](m);
        for (uint256 e = 0; e < x.entrySub.length; ++e) if (!x.entryRevealed[e]) silent[x.entryValidator[e]] = true;
        uint256[] memory agree = new uint256[](m);
        for (uint256 e = 0; e < x.entrySub.length; ++e) {
            if (!x.entryRevealed[e]) continue;
            agree[x.entryValidator[e]] += agreement(x.entryScore[e], o.consensus[x.entrySub[e]], x.toleranceBps);
        }
        uint256 qSum = 0;
        for (uint256 v = 0; v < m; ++v) {
            if (silent[v]) continue;
            o.validatorWeight[v] = x.validatorStake[v] * agree[v];
            qSum += o.validatorWeight[v];
        }
        o.validatorPot = x.pot - o.nodePot + o.slashed;
        if (qSum > 0)
            for (uint256 v = 0; v < m; ++v) {
                if (o.validatorWeight[v] == 0) continue;
                uint256 r = Math.mulDiv(o.validatorPot, o.validatorWeight[v], qSum);
                o.validatorReward[v] = r;
                o.paid += r;
            }
        o.creatorCredit = x.pot + o.slashed - o.paid;
    }

    /// Agreement of one revealed score with its submission's consensus, in bps: 10000 at the
    /// consensus, falling linearly to 0 at tol = max(1, c · toleranceBps / 10000) and beyond.
    function agreement(uint256 score, uint256 c, uint256 toleranceBps) internal pure returns (uint256) {
        uint256 tol = (c * toleranceBps) / BPS;
        if (tol == 0) tol = 1;
        uint256 d = score >= c ? score - c : c - score;
        return d < tol ? ((tol - d) * BPS) / tol : 0;
    }

    /// Lower stake-weighted median per submission: the revealed entries bucketed by submission
    /// (counting sort, O(E)), each bucket (≤ k entries on chain) insertion-sorted by (score, entry),
    /// then walked until twice the cumulative stake reaches the bucket's total.
    function _consensus(Input memory x, Output memory o) private pure {
        uint256 n = x.nodeStake.length;
        uint256 count = x.entrySub.length;
        uint256[] memory start = new uint256[](n + 1);
        for (uint256 e = 0; e < count; ++e) if (x.entryRevealed[e]) ++start[x.entrySub[e] + 1];
        for (uint256 s = 0; s < n; ++s) start[s + 1] += start[s];
        uint256[] memory keys = new uint256[](start[n]);
        uint256[] memory fill = new uint256[](n);
        for (uint256 e = 0; e < count; ++e) {
            if (!x.entryRevealed[e]) continue;
            uint256 s = x.entrySub[e];
            keys[start[s] + fill[s]++] = (x.entryScore[e] << 32) | e; // score < 2^64, entry < 2^32
        }
        uint256[] memory vstake = x.validatorStake;
        uint256[] memory ev = x.entryValidator;
        for (uint256 s = 0; s < n; ++s) {
            uint256 lo = start[s];
            uint256 hi = start[s + 1];
            if (lo == hi) continue;
            uint256 total = 0;
            for (uint256 i = lo; i < hi; ++i) {
                uint256 key = keys[i];
                total += vstake[ev[key & 0xffffffff]];
                uint256 j = i;
                while (j > lo && keys[j - 1] > key) {
                    keys[j] = keys[j - 1];
                    --j;
                }
                keys[j] = key;
            }
            uint256 cum = 0;
            for (uint256 i = lo; i < hi; ++i) {
                cum += vstake[ev[keys[i] & 0xffffffff]];
                if (2 * cum >= total) {
                    o.hasConsensus[s] = true;
                    o.consensus[s] = keys[i] >> 32;
                    break;
                }
            }
        }
    }

    /// Competition ranking by consensus (lower loss first): O(n²), n ≤ MAX_NODES.
    function _ranks(Output memory o, uint256 n) private pure {
        bool[] memory has = o.hasConsensus;
        uint256[] memory c = o.consensus;
        uint256[] memory rank = o.rank;
        for (uint256 i = 0; i < n; ++i) {
            if (!has[i]) {
                rank[i] = NO_RANK;
                continue;
            }
            uint256 ci = c[i];
            uint256 r = 0;
            for (uint256 k = 0; k < n; ++k) if (has[k] && c[k] < ci) ++r;
            rank[i] = r;
        }
    }

    /// Reward of a delegate split with its delegators (FLock: f·(1−σ)·t_d/(t_n+t_d)):
    ///   gross = floor(reward · D / (own + D)), D = Σ delegations;  net = gross − floor(gross · commissionBps / 10000)
    ///   delegator_j = floor(net · d_j / D);  delegate = reward − Σ delegator_j (own share, commission, dust)
    function splitDelegation(
        uint256 reward,
        uint256 own,
        uint256 commissionBps,
        uint256[] memory delegations
    ) internal pure returns (uint256 delegateShare, uint256[] memory delegatorShare) {
        delegatorShare = new uint256[](delegations.length);
        uint256 d = 0;
        for (uint256 i = 0; i < delegations.length; ++i) d += delegations[i];
        delegateShare = reward;
        if (d == 0 || reward == 0) return (delegateShare, delegatorShare);
        uint256 gross = Math.mulDiv(reward, d, own + d);
        uint256 net = gross - (gross * commissionBps) / BPS;
        for (uint256 i = 0; i < delegations.length; ++i) {
            uint256 p = Math.mulDiv(net, delegations[i], d);
            delegatorShare[i] = p;
            delegateShare -= p;
        }
    }
}
