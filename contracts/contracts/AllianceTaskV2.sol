// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IAllianceTaskV2} from "./IAllianceTaskV2.sol";
import {MedianSettlement} from "./MedianSettlement.sol";

/// @title AllianceTaskV2: trustless settlement of Murmuration rounds (issue 16).
/// @notice Round timeline (contracts/README.md, "AllianceTaskV2", has the full rules and trust model):
///   openRound (aggregator)     membership frozen: members[0 .. n) are bound (no stake/unstake/leave)
///   drawRoles (anyone)         after block seedBlock = open block + SEED_DELAY: seed = keccak256(
///                              blockhash(seedBlock) ‖ taskId ‖ round); proposer ⇔ keccak256(seed ‖ node)
///                              mod 10000 < proposerBps. Not drawn within 256 blocks: abandonable.
///   commitUpdate (proposer)    its update hash, until proposeDeadline
///   postCandidate (aggregator) model hash + bitmap of included proposers (committed ones only);
///                              the contract records keccak256 of their update hashes and the rule
///   commitVote (voter)         keccak256(abi.encode(taskId, round, voter, score, objections, salt))
///   revealVote (voter)         graded score in [−10000, 10000] + bitmap of objected proposers (kept
///                              for the objection consensus: its bits on committed proposers)
///   finalizeRound (anyone)     after the reveal window (or once every committed vote is revealed):
///                              MedianSettlement.settle; below quorum the round is abandoned
///   abandonRound (anyone)      only when the seed expired or no candidate was posted in time
/// After every close no round can open for windows.exit seconds: every node can leave and unstake.
/// Unstaked tokens unbond for windows.unbonding seconds, during which a proposer that signed an
/// Update other than the hash it committed can still be slashed (reportEquivocation).
/// Length (~700 lines): the round state machine shares one storage layout and its invariants (the
/// participant prefix of members, bound nodes); its types, events and errors are already in
/// IAllianceTaskV2.sol and the settlement rule in MedianSettlement.sol. Splitting it further means
/// linked external libraries (a multi-step deploy for murmurd) or cross-contract calls.
contract AllianceTaskV2 is IAllianceTaskV2, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant BPS = 10_000;
    uint256 public constant MAX_MEMBERS = 500;
    uint256 public constant MAX_ROUNDS = 1_000_000;
    uint256 public constant MAX_AMOUNT = type(uint128).max; // per stake and pool: sums stay far from 2^256
    uint256 public constant SEED_DELAY = 2; // blocks between openRound and the seed block
    uint256 public constant MAX_REDRAWS = 8; // drawRoles' redraws of a one-role draw
    uint256 public constant MIN_EXIT_WINDOW = 12; // seconds: at least one block to leave in
    uint256 public constant MAX_WINDOW = 30 days;
    uint256 public constant MAX_UNBONDING = 365 days;
    bytes32 public constant UPDATE_TYPEHASH =
        keccak256("Update(uint256 taskId,uint256 round,bytes32 updateHash,uint256 numSamples)");

    uint8 public constant ABANDON_SEED_EXPIRED = 0;
    uint8 public constant ABANDON_NO_CANDIDATE = 1;
    uint8 public constant ABANDON_NO_QUORUM = 2;

    struct Node {
        uint128 stake; // slot 1: the settlement's hot path reads and writes one slot per node
        uint128 reward;
        uint256 pending; // unbonding
        uint64 unlockAt;
        uint32 slot; // 1 + index in members; 0 = not joined
        uint256 rewardOverflow; // reward beyond 2^128 − 1 spills here instead of reverting
    }

    uint256 public taskCount;
    mapping(uint256 => Task) private _tasks;
    mapping(uint256 => mapping(uint256 => Round)) private _rounds;
    mapping(uint256 => mapping(uint256 => mapping(address => Entry))) private _entries;
    mapping(uint256 => mapping(uint256 => mapping(uint256 => uint256))) private _objections;
    // Each revealed voter's objection bitmap, kept for the settlement's objection consensus: word w
    // of participant i's bitmap at key (i << 8) | w, holding only bits on committed proposers; a
    // voter's words are stored only when non-zero, and bit i of _objectors' word i / 256 says so.
    mapping(uint256 => mapping(uint256 => mapping(uint256 => uint256))) private _objectionBits;
    mapping(uint256 => mapping(uint256 => mapping(uint256 => uint256))) private _objectors;
    mapping(uint256 => mapping(uint256 => uint256[])) private _included;
    mapping(uint256 => mapping(address => Node)) private _nodes;
    mapping(uint256 => address[]) private _members;

    constructor() EIP712("Murmuration", "1") {}

    // ------------------------------------------------------------------ tasks

    function createTask(TaskParams calldata p) external nonReentrant returns (uint256 taskId) {
        if (address(p.token) == address(0) || p.aggregator == address(0)) revert BadTaskParams("zero address");
        if (p.totalRounds == 0 || p.totalRounds > MAX_ROUNDS) revert BadTaskParams("totalRounds");
        if (p.minStake == 0 || p.minStake > MAX_AMOUNT) revert BadTaskParams("minStake");
        if (p.rewardPool > MAX_AMOUNT) revert BadTaskParams("rewardPool");
        if (p.maxMembers < 2 || p.maxMembers > MAX_MEMBERS) revert BadTaskParams("maxMembers");
        if (p.proposerBps == 0 || p.proposerBps >= BPS) revert BadTaskParams("proposerBps");
        if (p.slashBps > BPS) revert BadTaskParams("slashBps");
        if (p.quorumBps == 0 || p.quorumBps > BPS) revert BadTaskParams("quorumBps");
        if (p.toleranceBps > 2 * BPS) revert BadTaskParams("toleranceBps");
        Windows calldata w = p.windows;
        if (w.propose == 0 || w.post == 0 || w.commit == 0 || w.reveal == 0) revert BadTaskParams("window 0");
        if (w.propose > MAX_WINDOW || w.post > MAX_WINDOW || w.commit > MAX_WINDOW || w.reveal > MAX_WINDOW)
            revert BadTaskParams("window too long");
        if (w.exit < MIN_EXIT_WINDOW || w.exit > MAX_WINDOW) revert BadTaskParams("exit window");
        if (w.unbonding > MAX_UNBONDING) revert BadTaskParams("unbonding");
        if (w.taskTimeout < uint256(w.propose) + w.post + w.commit + w.reveal + w.exit || w.taskTimeout > MAX_UNBONDING)
            revert BadTaskParams("taskTimeout");

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.creator = msg.sender;
        t.aggregator = p.aggregator;
        t.token = p.token;
        t.totalRounds = uint32(p.totalRounds);
        t.proposerBps = uint16(p.proposerBps);
        t.slashBps = uint16(p.slashBps);
        t.quorumBps = uint16(p.quorumBps);
        t.toleranceBps = uint16(p.toleranceBps);
        t.maxMembers = uint16(p.maxMembers);
        t.lastClosedAt = uint64(block.timestamp);
        t.minStake = p.minStake;
        t.pool = p.rewardPool;
        t.modelSpecHash = p.modelSpecHash;
        t.modelHash = p.initialModelHash;
        t.ruleHash = p.ruleHash;
        t.windows = w;
        emit TaskCreated(taskId, msg.sender, p);
        _pull(p.token, p.rewardPool);
    }

    /// Creator only, any time: the aggregator has no power over money, only over its own service.
    function setAggregator(uint256 taskId, address aggregator) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.creator) revert NotCreator(msg.sender);
        if (aggregator == address(0)) revert BadTaskParams("zero address");
        t.aggregator = aggregator;
        emit AggregatorChanged(taskId, aggregator);
    }

    /// Creator only: ends a task that has been idle (no round in flight, none closed) for
    /// windows.taskTimeout and takes back the unpaid pool. Stakes and credited rewards are untouched.
    function cancelTask(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.creator) revert NotCreator(msg.sender);
        if (t.ended) revert TaskHasEnded(taskId);
        if (t.inFlight) revert RoundInFlight(t.currentRound);
        uint256 idleUntil = uint256(t.lastClosedAt) + t.windows.taskTimeout;
        if (block.timestamp < idleUntil) revert TaskNotIdle(idleUntil);
        uint256 pool = t.pool;
        t.pool = 0;
        t.creatorBalance += pool;
        t.ended = true;
        emit TaskCancelled(taskId, pool);
    }

    // ------------------------------------------------------------------ nodes

    function stake(uint256 taskId, uint256 amount) external nonReentrant {
        Task storage t = _task(taskId);
        if (amount == 0) revert ZeroAmount();
        if (t.ended) revert TaskHasEnded(taskId);
        Node storage n = _nodes[taskId][msg.sender];
        _requireUnbound(t, n);
        uint256 s = uint256(n.stake) + amount;
        if (s > MAX_AMOUNT) revert AmountTooLarge(s);
        n.stake = uint128(s);
        emit Staked(taskId, msg.sender, amount, s);
        _pull(t.token, amount);
    }

    /// Moves `amount` of stake to unbonding; `withdraw` pays it after windows.unbonding.
    function unstake(uint256 taskId, uint256 amount) external {
        Task storage t = _task(taskId);
        if (amount == 0) revert ZeroAmount();
        Node storage n = _nodes[taskId][msg.sender];
        _requireUnbound(t, n);
        if (amount > n.stake) revert InsufficientStake(n.stake, amount);
        uint256 remaining = n.stake - amount;
        if (n.slot != 0 && !t.ended && remaining < t.minStake) revert StakeTooSmall(remaining, t.minStake);
        n.stake = uint128(remaining);
        n.pending += amount;
        n.unlockAt = uint64(block.timestamp + t.windows.unbonding);
        emit Unstaked(taskId, msg.sender, amount, n.unlockAt);
    }

    function withdraw(uint256 taskId) external nonReentrant returns (uint256 amount) {
        Task storage t = _task(taskId);
        Node storage n = _nodes[taskId][msg.sender];
        amount = n.pending;
        if (amount == 0) revert NothingToClaim();
        if (block.timestamp < n.unlockAt) revert NotUnlocked(n.unlockAt);
        n.pending = 0;
        emit Withdrawn(taskId, msg.sender, amount);
        t.token.safeTransfer(msg.sender, amount);
    }

    /// Joins while there is room (maxMembers).
    function join(uint256 taskId) external {
        (Task storage t, Node storage n) = _joinable(taskId);
        if (_members[taskId].length >= t.maxMembers) revert TaskFull(t.maxMembers);
        _push(taskId, n);
    }

    /// Joins a full task by displacing `member`, which must have strictly less stake than the
    /// caller and must not be bound to the round in flight. Admission is stake-ranked: a swarm of
    /// small Sybils is displaced by anyone who stakes more than each of them.
    function joinDisplacing(uint256 taskId, address member) external {
        (Task storage t, Node storage n) = _joinable(taskId);
        Node storage m = _nodes[taskId][member];
        if (m.slot == 0) revert NotJoined(member);
        if (_bound(t, m)) revert NodeBound(member, t.currentRound);
        if (m.stake >= n.stake) revert CannotDisplace(member, m.stake, n.stake);
        _remove(taskId, m);
        emit Displaced(taskId, member, msg.sender);
        _push(taskId, n);
    }

    function leave(uint256 taskId) external {
        Task storage t = _task(taskId);
        Node storage n = _nodes[taskId][msg.sender];
        if (n.slot == 0) revert NotJoined(msg.sender);
        _requireUnbound(t, n);
        _remove(taskId, n);
        emit Left(taskId, msg.sender);
    }

    /// Pays the caller's rewards, plus the creator's balance if the caller is the creator.
    function claim(uint256 taskId) external nonReentrant returns (uint256 amount) {
        Task storage t = _task(taskId);
        Node storage n = _nodes[taskId][msg.sender];
        amount = uint256(n.reward) + n.rewardOverflow;
        n.reward = 0;
        n.rewardOverflow = 0;
        if (msg.sender == t.creator) {
            amount += t.creatorBalance;
            t.creatorBalance = 0;
        }
        if (amount == 0) revert NothingToClaim();
        emit Claimed(taskId, msg.sender, amount);
        t.token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ rounds

    function openRound(uint256 taskId) external returns (uint256 round) {
        Task storage t = _task(taskId);
        if (msg.sender != t.aggregator) revert NotAggregator(msg.sender);
        if (t.ended) revert TaskHasEnded(taskId);
        if (t.inFlight) revert RoundInFlight(t.currentRound);
        uint256 opensAt = uint256(t.lastClosedAt) + t.windows.exit;
        if (block.timestamp < opensAt) revert ExitWindow(opensAt);
        uint256 count = _members[taskId].length;
        if (count < 2) revert NoParticipants();
        round = uint256(t.currentRound) + 1;
        t.currentRound = uint32(round);
        t.inFlight = true;
        t.participantCount = uint32(count);
        Round storage r = _rounds[taskId][round];
        r.state = RoundState.Seeding;
        r.participantCount = uint32(count);
        r.seedBlock = uint64(block.number + SEED_DELAY);
        emit RoundOpened(taskId, round, count, r.seedBlock);
    }

    /// Anyone, once block seedBlock exists and while its hash is available (256 blocks).
    function drawRoles(uint256 taskId) external {
        Task storage t = _task(taskId);
        uint256 round = t.currentRound;
        Round storage r = _inState(taskId, round, RoundState.Seeding);
        if (block.number <= r.seedBlock) revert TooEarly(uint256(r.seedBlock) + 1);
        bytes32 bh = blockhash(r.seedBlock);
        if (bh == bytes32(0)) revert TooLate(uint256(r.seedBlock) + 256);
        bytes32 seed = keccak256(abi.encodePacked(bh, taskId, round));
        address[] storage m = _members[taskId];
        uint256 n = r.participantCount;
        uint256 proposers = _countProposers(seed, m, n, t.proposerBps);
        // A round needs a proposer and a voter. A draw that gave every participant the same role
        // is drawn again from keccak256(seed), at most MAX_REDRAWS times (then it stands and the
        // round ends abandoned or without quorum). Deterministic from the block hash: no choice.
        for (uint256 k = 0; k < MAX_REDRAWS && (proposers == 0 || proposers == n); ++k) {
            seed = keccak256(abi.encodePacked(seed));
            proposers = _countProposers(seed, m, n, t.proposerBps);
        }
        r.seed = seed;
        r.ruleHash = t.ruleHash;
        r.proposerCount = uint32(proposers);
        r.voterCount = r.participantCount - uint32(proposers);
        r.proposeDeadline = uint64(block.timestamp + t.windows.propose);
        r.postDeadline = r.proposeDeadline + t.windows.post;
        r.state = RoundState.Proposing;
        emit RolesDrawn(taskId, round, seed, proposers, r.voterCount);
    }

    function commitUpdate(uint256 taskId, uint256 round, bytes32 updateHash) external {
        Round storage r = _inState(taskId, round, RoundState.Proposing);
        if (block.timestamp > r.proposeDeadline) revert TooLate(r.proposeDeadline);
        _requireRole(taskId, r, msg.sender, Role.Proposer);
        Entry storage e = _entries[taskId][round][msg.sender];
        if (e.commitment != bytes32(0)) revert AlreadyCommitted(msg.sender);
        if (updateHash == bytes32(0)) revert BadReveal(msg.sender);
        e.commitment = updateHash;
        r.updateCommits += 1;
        emit UpdateCommitted(taskId, round, msg.sender, updateHash);
    }

    /// Aggregator: the candidate and which committed proposers the rule included (bit i = participant i).
    function postCandidate(uint256 taskId, uint256 round, bytes32 modelHash, uint256[] calldata included) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.aggregator) revert NotAggregator(msg.sender);
        Round storage r = _inState(taskId, round, RoundState.Proposing);
        if (block.timestamp > r.postDeadline) revert TooLate(r.postDeadline);
        if (block.timestamp <= r.proposeDeadline && r.updateCommits < r.proposerCount)
            revert TooEarly(uint256(r.proposeDeadline) + 1);
        uint256 pc = r.participantCount;
        if (included.length != (pc + 255) / 256) revert BadBitmap(included.length);
        bytes32[] memory hashes = new bytes32[](pc);
        uint256 k = 0;
        address[] storage m = _members[taskId];
        for (uint256 i = 0; i < pc; ++i) {
            if ((included[i >> 8] >> (i & 255)) & 1 == 0) continue;
            bytes32 h = _entries[taskId][round][m[i]].commitment;
            if (h == bytes32(0) || !_isProposer(r.seed, m[i], t.proposerBps)) revert BadBitmap(i);
            hashes[k++] = h;
        }
        for (uint256 i = pc; i < included.length * 256; ++i)
            if ((included[i >> 8] >> (i & 255)) & 1 != 0) revert BadBitmap(i);
        assembly ("memory-safe") {
            mstore(hashes, k)
        }
        bytes32 includedHash = keccak256(abi.encodePacked(hashes));
        r.modelHash = modelHash;
        r.includedHash = includedHash;
        _included[taskId][round] = included;
        r.commitDeadline = uint64(block.timestamp + t.windows.commit);
        r.revealDeadline = r.commitDeadline + t.windows.reveal;
        r.state = RoundState.Voting;
        emit CandidatePosted(taskId, round, modelHash, r.ruleHash, includedHash, k);
    }

    function commitVote(uint256 taskId, uint256 round, bytes32 commitment) external {
        Round storage r = _inState(taskId, round, RoundState.Voting);
        if (block.timestamp > r.commitDeadline) revert TooLate(r.commitDeadline);
        _requireRole(taskId, r, msg.sender, Role.Voter);
        Entry storage e = _entries[taskId][round][msg.sender];
        if (e.commitment != bytes32(0)) revert AlreadyCommitted(msg.sender);
        if (commitment == bytes32(0)) revert BadReveal(msg.sender);
        e.commitment = commitment;
        r.voteCommits += 1;
        emit VoteCommitted(taskId, round, msg.sender);
    }

    /// Reveals a committed vote. Objection bits on anything but a committed proposer are ignored,
    /// so a reveal that matches its commitment is never refused for its bitmap.
    function revealVote(
        uint256 taskId,
        uint256 round,
        int16 score,
        uint256[] calldata objections,
        bytes32 salt
    ) external {
        Round storage r = _inState(taskId, round, RoundState.Voting);
        if (block.timestamp <= r.commitDeadline && r.voteCommits < r.voterCount)
            revert TooEarly(uint256(r.commitDeadline) + 1);
        if (block.timestamp > r.revealDeadline) revert TooLate(r.revealDeadline);
        _requireRole(taskId, r, msg.sender, Role.Voter);
        Entry storage e = _entries[taskId][round][msg.sender];
        if (e.commitment == bytes32(0)) revert NotCommitted(msg.sender);
        if (e.revealed) revert AlreadyRevealed(msg.sender);
        if (e.commitment != voteCommitment(taskId, round, msg.sender, score, objections, salt))
            revert BadReveal(msg.sender);
        if (score < MedianSettlement.MIN_SCORE || score > MedianSettlement.MAX_SCORE) revert BadScore(score);
        e.revealed = true;
        e.score = score;
        r.reveals += 1;
        _addObjections(taskId, round, r, objections);
        emit VoteRevealed(taskId, round, msg.sender, score);
    }

    /// Adds the revealing voter's stake to every committed proposer its bitmap objects to, and keeps
    /// the bits that count (those on committed proposers) for finalizeRound's objection consensus.
    function _addObjections(uint256 taskId, uint256 round, Round storage r, uint256[] calldata objections) private {
        uint256 pc = r.participantCount;
        uint256 words = objections.length < (pc + 255) / 256 ? objections.length : (pc + 255) / 256;
        if (words == 0) return;
        uint256 w = _nodes[taskId][msg.sender].stake;
        uint256 me = _nodes[taskId][msg.sender].slot - 1; // a participant: _requireRole checked it
        uint256 bps = _tasks[taskId].proposerBps;
        address[] storage m = _members[taskId];
        mapping(address => Entry) storage entries = _entries[taskId][round];
        mapping(uint256 => uint256) storage sums = _objections[taskId][round];
        bool any = false;
        for (uint256 wi = 0; wi < words; ++wi) {
            uint256 bits = objections[wi];
            uint256 kept = 0;
            for (uint256 i = wi << 8; bits != 0 && i < pc; ) {
                if (bits & 0xff == 0) {
                    bits >>= 8;
                    i += 8;
                    continue;
                }
                if (bits & 1 != 0) {
                    address p = m[i];
                    if (_isProposer(r.seed, p, bps) && entries[p].commitment != bytes32(0)) {
                        sums[i] += w;
                        kept |= 1 << (i & 255);
                    }
                }
                bits >>= 1;
                ++i;
            }
            if (kept != 0) {
                _objectionBits[taskId][round][(me << 8) | wi] = kept;
                any = true;
            }
        }
        if (any) _objectors[taskId][round][me >> 8] |= 1 << (me & 255);
    }

    /// The commitment a voter sends to commitVote.
    function voteCommitment(
        uint256 taskId,
        uint256 round,
        address voter,
        int16 score,
        uint256[] calldata objections,
        bytes32 salt
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(taskId, round, voter, score, objections, salt));
    }

    /// Anyone, after the reveal window, or earlier once the commit phase is over and every committed
    /// vote is revealed. Below quorum the round is abandoned: nobody is paid or slashed.
    function finalizeRound(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        uint256 round = t.currentRound;
        Round storage r = _inState(taskId, round, RoundState.Voting);
        bool commitsOver = block.timestamp > r.commitDeadline || r.voteCommits == r.voterCount;
        if (block.timestamp <= r.revealDeadline && !(commitsOver && r.reveals == r.voteCommits))
            revert TooEarly(uint256(r.revealDeadline) + 1);

        (MedianSettlement.Input memory x, address[] memory who) = _settlementInput(taskId, t, r, round);
        MedianSettlement.Output memory o = MedianSettlement.settle(x);
        r.revealedStake = o.revealedStake;
        r.voterStake = o.voterStake;
        if (!o.quorum) {
            _closeRound(t, r, RoundState.Abandoned);
            emit RoundAbandoned(taskId, round, ABANDON_NO_QUORUM);
            return;
        }
        mapping(address => Node) storage nodes = _nodes[taskId];
        for (uint256 i = 0; i < who.length; ++i) {
            if (o.slash[i] != 0) {
                nodes[who[i]].stake -= uint128(o.slash[i]);
                emit Slashed(taskId, round, who[i], o.slash[i]);
            }
            if (o.reward[i] != 0) {
                _credit(nodes[who[i]], o.reward[i]);
                emit Rewarded(taskId, round, who[i], o.reward[i]);
            }
        }
        t.pool = o.poolAfter;
        t.creatorBalance += o.creatorCredit;
        t.finalizedRounds += 1;
        if (o.accepted) t.modelHash = r.modelHash;
        r.median = o.median;
        r.accepted = o.accepted;
        r.paid = o.paid;
        r.slashed = o.slashed;
        _closeRound(t, r, RoundState.Finalized);
        emit RoundFinalized(taskId, round, r.modelHash, o.accepted, o.median, o.paid, o.slashed);
        if (t.finalizedRounds == t.totalRounds) {
            t.ended = true;
            emit TaskEnded(taskId, o.creatorCredit);
        }
    }

    /// Anyone: a round whose seed block hash expired undrawn, or whose candidate was not posted in time.
    function abandonRound(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (!t.inFlight) revert NoRoundInFlight();
        uint256 round = t.currentRound;
        Round storage r = _rounds[taskId][round];
        uint8 reason;
        if (r.state == RoundState.Seeding) {
            if (block.number <= uint256(r.seedBlock) + 256) revert TooEarly(uint256(r.seedBlock) + 257);
            reason = ABANDON_SEED_EXPIRED;
        } else if (r.state == RoundState.Proposing) {
            if (block.timestamp <= r.postDeadline) revert TooEarly(uint256(r.postDeadline) + 1);
            reason = ABANDON_NO_CANDIDATE;
        } else {
            revert WrongState(round, r.state); // Voting: finalizeRound closes it (or abandons below quorum)
        }
        _closeRound(t, r, RoundState.Abandoned);
        emit RoundAbandoned(taskId, round, reason);
    }

    /// Anyone holding `node`'s EIP-712 Update for `round` whose hash differs from the one it
    /// committed on chain: slashes slashBps of its stake plus unbonding tokens (once per node and
    /// round), while the round is in flight or for windows.unbonding after it closed.
    function reportEquivocation(
        uint256 taskId,
        uint256 round,
        address node,
        bytes32 updateHash,
        uint256 numSamples,
        bytes calldata signature
    ) external {
        Task storage t = _task(taskId);
        _markEquivocation(t, taskId, round, node, updateHash);
        bytes32 digest = _updateDigest(taskId, round, updateHash, numSamples);
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != node) revert BadSignature(node);
        uint256 amount = _slashAll(t, _nodes[taskId][node]);
        emit Equivocation(taskId, round, node, amount);
    }

    // ------------------------------------------------------------------ views

    function getTask(uint256 taskId) external view returns (Task memory) {
        return _task(taskId);
    }

    function getRound(uint256 taskId, uint256 round) external view returns (Round memory) {
        return _rounds[taskId][round];
    }

    function entryOf(uint256 taskId, uint256 round, address node) external view returns (Entry memory) {
        return _entries[taskId][round][node];
    }

    function includedOf(uint256 taskId, uint256 round) external view returns (uint256[] memory) {
        return _included[taskId][round];
    }

    function objectionStake(uint256 taskId, uint256 round, uint256 index) external view returns (uint256) {
        return _objections[taskId][round][index];
    }

    /// The objection bitmap participant `index` revealed in `round`, as the settlement counts it
    /// (bits on committed proposers only); all zero words when it objected to none or did not reveal.
    function objectionsOf(uint256 taskId, uint256 round, uint256 index) external view returns (uint256[] memory bits) {
        bits = new uint256[]((uint256(_rounds[taskId][round].participantCount) + 255) / 256);
        for (uint256 w = 0; w < bits.length; ++w) bits[w] = _objectionBits[taskId][round][(index << 8) | w];
    }

    function nodeInfo(uint256 taskId, address node) external view returns (NodeView memory v) {
        Node storage n = _nodes[taskId][node];
        v.stake = n.stake;
        v.reward = uint256(n.reward) + n.rewardOverflow;
        v.pending = n.pending;
        v.unlockAt = n.unlockAt;
        v.joined = n.slot != 0;
        v.bound = _bound(_tasks[taskId], n);
    }

    function members(uint256 taskId) external view returns (address[] memory) {
        return _members[taskId];
    }

    /// Participants of the round in flight, in index order (the bitmaps' bit i); empty when none.
    function participants(uint256 taskId) external view returns (address[] memory list) {
        Task storage t = _tasks[taskId];
        uint256 count = t.inFlight ? t.participantCount : 0;
        list = new address[](count);
        for (uint256 i = 0; i < count; ++i) list[i] = _members[taskId][i];
    }

    /// Role by the drawn seed (reverts before drawRoles): keccak256(seed ‖ node) mod 10000 < proposerBps.
    function roleOf(uint256 taskId, uint256 round, address node) external view returns (Role) {
        Round storage r = _rounds[taskId][round];
        if (r.seed == bytes32(0)) revert WrongState(round, r.state);
        return _isProposer(r.seed, node, _tasks[taskId].proposerBps) ? Role.Proposer : Role.Voter;
    }

    function updateDigest(uint256 taskId, uint256 round, bytes32 updateHash, uint256 numSamples) external view returns (bytes32) {
        return _updateDigest(taskId, round, updateHash, numSamples);
    }

    function _updateDigest(uint256 taskId, uint256 round, bytes32 updateHash, uint256 numSamples) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(UPDATE_TYPEHASH, taskId, round, updateHash, numSamples)));
    }

    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    function _settlementInput(
        uint256 taskId,
        Task storage t,
        Round storage r,
        uint256 round
    ) private view returns (MedianSettlement.Input memory x, address[] memory who) {
        uint256 pc = r.participantCount;
        who = new address[](pc);
        x.pool = t.pool;
        x.roundsLeft = uint256(t.totalRounds) - t.finalizedRounds;
        x.slashBps = t.slashBps;
        x.quorumBps = t.quorumBps;
        x.toleranceBps = t.toleranceBps;
        x.kind = new uint8[](pc);
        x.stake = new uint256[](pc);
        x.score = new int256[](pc);
        x.objectionStake = new uint256[](pc);
        x.objections = new uint256[][](pc);
        uint256 words = (pc + 255) / 256;
        uint256[] memory objectors = new uint256[](words);
        for (uint256 w = 0; w < words; ++w) objectors[w] = _objectors[taskId][round][w];
        uint256[] storage inc = _included[taskId][round];
        address[] storage m = _members[taskId];
        for (uint256 i = 0; i < pc; ++i) {
            address a = m[i];
            who[i] = a;
            x.stake[i] = _nodes[taskId][a].stake;
            Entry storage e = _entries[taskId][round][a];
            if (_isProposer(r.seed, a, t.proposerBps)) {
                if (e.commitment == bytes32(0)) x.kind[i] = MedianSettlement.PROPOSER_ABSENT;
                else if ((inc[i >> 8] >> (i & 255)) & 1 == 1) x.kind[i] = MedianSettlement.PROPOSER_INCLUDED;
                else x.kind[i] = MedianSettlement.PROPOSER_EXCLUDED;
                if (e.commitment != bytes32(0)) x.objectionStake[i] = _objections[taskId][round][i];
            } else if (e.revealed) {
                x.kind[i] = MedianSettlement.VOTER_REVEALED;
                x.score[i] = e.score;
                if ((objectors[i >> 8] >> (i & 255)) & 1 == 1) {
                    uint256[] memory bits = new uint256[](words);
                    for (uint256 w = 0; w < words; ++w) bits[w] = _objectionBits[taskId][round][(i << 8) | w];
                    x.objections[i] = bits;
                }
            } else {
                x.kind[i] = e.commitment == bytes32(0) ? MedianSettlement.VOTER_ABSENT : MedianSettlement.VOTER_UNREVEALED;
            }
        }
    }

    /// Checks that `node` committed an update hash other than `updateHash` in `round`, within the
    /// report window, not yet reported; marks it reported.
    function _markEquivocation(Task storage t, uint256 taskId, uint256 round, address node, bytes32 updateHash) private {
        Round storage r = _rounds[taskId][round];
        if (r.state == RoundState.None || r.state == RoundState.Seeding) revert WrongState(round, r.state);
        if (r.closedAt != 0 && block.timestamp > uint256(r.closedAt) + t.windows.unbonding)
            revert TooLate(uint256(r.closedAt) + t.windows.unbonding);
        Entry storage e = _entries[taskId][round][node];
        if (!_isProposer(r.seed, node, t.proposerBps) || e.commitment == bytes32(0) || e.commitment == updateHash)
            revert NotEquivocation(node);
        if (e.reported) revert NotEquivocation(node);
        e.reported = true;
    }

    /// Takes slashBps of stake + unbonding tokens (stake first) into the pool (the creator after the end).
    function _slashAll(Task storage t, Node storage n) private returns (uint256 amount) {
        amount = ((uint256(n.stake) + n.pending) * t.slashBps) / BPS;
        uint256 fromStake = amount < n.stake ? amount : n.stake;
        n.stake -= uint128(fromStake);
        n.pending -= amount - fromStake;
        if (t.ended) t.creatorBalance += amount;
        else t.pool += amount;
    }

    function _closeRound(Task storage t, Round storage r, RoundState state) private {
        r.state = state;
        r.closedAt = uint64(block.timestamp);
        t.inFlight = false;
        t.lastClosedAt = uint64(block.timestamp);
    }

    function _credit(Node storage n, uint256 amount) private {
        uint256 sum = uint256(n.reward) + amount;
        if (sum > type(uint128).max) {
            n.rewardOverflow += sum;
            n.reward = 0;
        } else {
            n.reward = uint128(sum);
        }
    }

    function _joinable(uint256 taskId) private view returns (Task storage t, Node storage n) {
        t = _task(taskId);
        if (t.ended) revert TaskHasEnded(taskId);
        n = _nodes[taskId][msg.sender];
        if (n.slot != 0) revert AlreadyJoined(msg.sender);
        if (n.stake < t.minStake) revert StakeTooSmall(n.stake, t.minStake);
    }

    function _push(uint256 taskId, Node storage n) private {
        address[] storage m = _members[taskId];
        m.push(msg.sender);
        n.slot = uint32(m.length);
        emit Joined(taskId, msg.sender, n.stake);
    }

    /// Swap-and-pop. While a round is in flight only non-participants (index ≥ participantCount)
    /// get here, and both they and the last element lie beyond the participant prefix.
    function _remove(uint256 taskId, Node storage n) private {
        address[] storage m = _members[taskId];
        uint256 i = n.slot - 1;
        address last = m[m.length - 1];
        m[i] = last;
        _nodes[taskId][last].slot = uint32(i + 1);
        m.pop();
        n.slot = 0;
    }

    function _task(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.creator == address(0)) revert UnknownTask(taskId);
    }

    function _inState(uint256 taskId, uint256 round, RoundState s) private view returns (Round storage r) {
        Task storage t = _task(taskId);
        if (round != t.currentRound) revert WrongRound(t.currentRound, round);
        r = _rounds[taskId][round];
        if (r.state != s) revert WrongState(round, r.state);
    }

    function _requireRole(uint256 taskId, Round storage r, address node, Role role) private view {
        Node storage n = _nodes[taskId][node];
        if (n.slot == 0 || n.slot > r.participantCount) revert NotParticipant(node);
        bool p = _isProposer(r.seed, node, _tasks[taskId].proposerBps);
        if (p != (role == Role.Proposer)) revert WrongRole(node, role);
    }

    function _bound(Task storage t, Node storage n) private view returns (bool) {
        return t.inFlight && n.slot != 0 && n.slot <= t.participantCount;
    }

    function _requireUnbound(Task storage t, Node storage n) private view {
        if (_bound(t, n)) revert NodeBound(msg.sender, t.currentRound);
    }

    function _countProposers(bytes32 seed, address[] storage m, uint256 n, uint256 bps) private view returns (uint256 c) {
        for (uint256 i = 0; i < n; ++i) if (_isProposer(seed, m[i], bps)) ++c;
    }

    function _isProposer(bytes32 seed, address node, uint256 bps) private pure returns (bool) {
        uint256 h;
        assembly ("memory-safe") {
            mstore(0x00, seed)
            mstore(0x20, shl(96, node))
            h := keccak256(0x00, 0x34)
        }
        return h % BPS < bps;
    }

    function _pull(IERC20 token, uint256 amount) private {
        if (amount == 0) return;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(amount, received);
    }
}
