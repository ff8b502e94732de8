// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title MedianSettlement: the settlement rule of one AllianceTaskV2 round (issue 16).
/// @notice Pure integer arithmetic, the same rule as chain/src/median_settlement.cpp and
/// contracts/test/median_cases.json (the shared cases table both run). With, per participant, its
/// kind, frozen stake s_i, revealed score and objection bitmap (voters) and objection stake
/// (proposers):
///
///   W_r        = Σ s_v over revealed voters;  W_v = Σ s_v over all voters of the round
///   quorum     = W_r > 0  and  W_r · 10000 ≥ quorumBps · W_v          (else: abandoned, nothing moves)
///   median m   = min { s : 2 · Σ_{revealed v, score_v ≤ s} s_v ≥ W_r }  (lower stake-weighted median)
///   accepted   = m ≥ 0
///   C          = the committed updates (proposers not absent);  objected_j = 2 · objectionStake_j > W_r
///   d_v        = #{ j ∈ C : bit j of v's bitmap ≠ objected_j }   (its disagreements with the consensus)
///   far_v      = 2 · d_v > |C|  and  d_v ≥ 2         (against the objection consensus on most updates)
///   voter      revealed, |score − m| ≤ toleranceBps and not far_v → winner;  revealed otherwise → loser
///              committed but not revealed → loser;  no commitment → neither
///   proposer   objected (the revealed voters' stake majority objects) → loser
///              no update committed (provably absent) → loser
///              included by the rule → winner, accepted or not;  excluded → neither
///   slash_i    = floor(s_i · slashBps / 10000) for losers
///   pot        = floor(pool / roundsLeft) + Σ slash_i
///   reward_i   = floor(pot · s_i / Σ_{j∈W} s_j) for winners (0 if Σ_W = 0)
///   poolAfter  = pool + slashed − paid;  last round (roundsLeft = 1): creatorCredit = poolAfter, poolAfter = 0
library MedianSettlement {
    uint256 internal constant BPS = 10_000;
    int256 internal constant MIN_SCORE = -10_000;
    int256 internal constant MAX_SCORE = 10_000;
    /// A voter is far from the objection consensus when it disagrees on more than half of the
    /// round's committed updates and on at least this many (one close call alone never slashes).
    uint256 internal constant MIN_DISAGREEMENTS = 2;

    uint8 internal constant PROPOSER_ABSENT = 0; // no update hash committed
    uint8 internal constant PROPOSER_EXCLUDED = 1; // committed, left out by the rule
    uint8 internal constant PROPOSER_INCLUDED = 2; // committed and included in the candidate
    uint8 internal constant VOTER_ABSENT = 3; // no vote committed
    uint8 internal constant VOTER_UNREVEALED = 4; // committed, never revealed
    uint8 internal constant VOTER_REVEALED = 5;

    struct Input {
        uint256 pool;
        uint256 roundsLeft;
        uint256 slashBps;
        uint256 quorumBps;
        uint256 toleranceBps;
        uint8[] kind;
        uint256[] stake;
        int256[] score; // VOTER_REVEALED only
        uint256[] objectionStake; // proposers only: Σ stake of revealed voters objecting to its update
        // VOTER_REVEALED only: its objection bitmap (bit i of word i / 256 = participant i); bits on
        // anything but a committed proposer, and words past the participants, are ignored.
        uint256[][] objections;
    }

    struct Output {
        bool quorum;
        int256 median;
        bool accepted;
        uint256 revealedStake;
        uint256 voterStake;
        uint256 winnerStake;
        uint256 pot;
        uint256 paid;
        uint256 slashed;
        uint256 poolAfter;
        uint256 creatorCredit;
        uint256[] reward;
        uint256[] slash;
    }

    /// The objection consensus of a round with quorum: bit i of committed / objected = participant
    /// i committed an update / the revealed stake's majority objects to it; count = |C|,
    /// objectedCount = how many of them are objected to.
    struct Consensus {
        uint256[] committed;
        uint256[] objected;
        uint256 count;
        uint256 objectedCount;
    }

    /// 0 = neither, 1 = winner, 2 = loser (quorum assumed met).
    function outcome(Input memory x, Output memory o, Consensus memory c, uint256 i) internal pure returns (uint256) {
        uint8 k = x.kind[i];
        if (k == VOTER_REVEALED) {
            uint256 d = x.score[i] >= o.median ? uint256(x.score[i] - o.median) : uint256(o.median - x.score[i]);
            if (d > x.toleranceBps) return 2;
            uint256 dis = disagreements(x.objections[i], c);
            return dis >= MIN_DISAGREEMENTS && 2 * dis > c.count ? 2 : 1;
        }
        if (k == VOTER_UNREVEALED) return 2;
        if (k == VOTER_ABSENT) return 0;
        if (k == PROPOSER_ABSENT || _bit(c.objected, i)) return 2;
        return k == PROPOSER_INCLUDED ? 1 : 0;
    }

    /// Committed updates on which `bits` differs from the objection consensus.
    function disagreements(uint256[] memory bits, Consensus memory c) internal pure returns (uint256 d) {
        if (bits.length == 0) return c.objectedCount; // objects to none: differs on every objected update
        for (uint256 w = 0; w < c.committed.length; ++w) {
            uint256 b = w < bits.length ? bits[w] : 0;
            d += popcount((b ^ c.objected[w]) & c.committed[w]);
        }
    }

    function consensus(Input memory x, Output memory o) internal pure returns (Consensus memory c) {
        uint256 n = x.kind.length;
        c.committed = new uint256[]((n + 255) / 256);
        c.objected = new uint256[]((n + 255) / 256);
        for (uint256 i = 0; i < n; ++i) {
            uint8 k = x.kind[i];
            if (k != PROPOSER_EXCLUDED && k != PROPOSER_INCLUDED) continue;
            c.committed[i >> 8] |= 1 << (i & 255);
            ++c.count;
            if (2 * x.objectionStake[i] > o.revealedStake) {
                c.objected[i >> 8] |= 1 << (i & 255);
                ++c.objectedCount;
            }
        }
    }

    /// Set bits of a word (SWAR: 2-, 4-, 8-bit sums, then 16-bit lanes summed by one multiply).
    function popcount(uint256 v) internal pure returns (uint256) {
        unchecked {
            uint256 m = type(uint256).max;
            v = v - ((v >> 1) & (m / 3));
            v = (v & (m / 5)) + ((v >> 2) & (m / 5));
            v = (v + (v >> 4)) & (m / 17);
            v = (v + (v >> 8)) & (m / 257);
            return (v * (m / 65535)) >> 240;
        }
    }

    function _bit(uint256[] memory words, uint256 i) private pure returns (bool) {
        return (words[i >> 8] >> (i & 255)) & 1 == 1;
    }

    function settle(Input memory x) internal pure returns (Output memory o) {
        uint256 n = x.kind.length;
        o.reward = new uint256[](n);
        o.slash = new uint256[](n);
        o.poolAfter = x.pool;
        uint256 revealed = 0;
        for (uint256 i = 0; i < n; ++i) {
            uint8 k = x.kind[i];
            if (k >= VOTER_ABSENT) o.voterStake += x.stake[i];
            if (k == VOTER_REVEALED) {
                o.revealedStake += x.stake[i];
                ++revealed;
            }
        }
        o.quorum = o.revealedStake > 0 && o.revealedStake * BPS >= x.quorumBps * o.voterStake;
        if (!o.quorum) return o;
        o.median = weightedMedian(x, revealed, o.revealedStake);
        o.accepted = o.median >= 0;
        Consensus memory c = consensus(x, o);

        uint256[] memory kinds = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 r = outcome(x, o, c, i);
            kinds[i] = r;
            if (r == 1) o.winnerStake += x.stake[i];
            if (r == 2) {
                uint256 s = (x.stake[i] * x.slashBps) / BPS;
                o.slash[i] = s;
                o.slashed += s;
            }
        }
        o.pot = x.pool / x.roundsLeft + o.slashed;
        if (o.winnerStake > 0) {
            for (uint256 i = 0; i < n; ++i) {
                if (kinds[i] != 1) continue;
                uint256 r = Math.mulDiv(o.pot, x.stake[i], o.winnerStake);
                o.reward[i] = r;
                o.paid += r;
            }
        }
        o.poolAfter = x.pool + o.slashed - o.paid;
        if (x.roundsLeft == 1) {
            o.creatorCredit = o.poolAfter;
            o.poolAfter = 0;
        }
    }

    /// Lower stake-weighted median of the revealed scores: sorts (score, index) keys, then walks up
    /// until twice the cumulative stake reaches the total. O(r log r) in memory.
    function weightedMedian(Input memory x, uint256 revealed, uint256 total) internal pure returns (int256) {
        uint256[] memory keys = new uint256[](revealed);
        uint256 j = 0;
        for (uint256 i = 0; i < x.kind.length; ++i) {
            if (x.kind[i] != VOTER_REVEALED) continue;
            // score + 2^15 is in [0, 2^16): it orders keys by score; the low 32 bits carry the index.
            keys[j++] = (uint256(x.score[i] + 32768) << 32) | i;
        }
        _sort(keys);
        uint256 cum = 0;
        for (uint256 k = 0; k < revealed; ++k) {
            uint256 i = keys[k] & 0xffffffff;
            cum += x.stake[i];
            if (2 * cum >= total) return x.score[i];
        }
        revert("unreachable"); // cum reaches total > 0
    }

    /// In-place heapsort (no recursion, O(n log n) worst case).
    function _sort(uint256[] memory a) private pure {
        uint256 n = a.length;
        if (n < 2) return;
        for (uint256 i = n / 2; i > 0; --i) _siftDown(a, i - 1, n);
        for (uint256 end = n - 1; end > 0; --end) {
            (a[0], a[end]) = (a[end], a[0]);
            _siftDown(a, 0, end);
        }
    }

    function _siftDown(uint256[] memory a, uint256 root, uint256 end) private pure {
        while (true) {
            uint256 child = 2 * root + 1;
            if (child >= end) return;
            if (child + 1 < end && a[child + 1] > a[child]) ++child;
            if (a[root] >= a[child]) return;
            (a[root], a[child]) = (a[child], a[root]);
            root = child;
        }
    }
}
