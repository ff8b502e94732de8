// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAllianceTask} from "./IAllianceTask.sol";

/// @title AllianceTask: FL Alliance tasks, rounds, stake-weighted votes, rewards and slashing.
/// @notice One contract holds many tasks (by `taskId`, from 1). A task creator funds a reward pool
/// in an ERC-20 token; nodes stake that token and join; the task's aggregator (the Murmuration
/// server) starts rounds and finalizes each round with the voters' EIP-712 signatures. The
/// contract re-checks every signature and role and recomputes the consensus itself.
///
/// Consensus and payout of one round (FLock's rules; see contracts/README.md for a worked example):
///   stake s_i        = the node's stake, frozen while the round is open (a participant can neither
///                      add nor withdraw stake until the round is finalized or abandoned)
///   sum              = Σ_{voters who voted} score_i · s_i        (score ∈ {+1, −1})
///   accepted         = sum ≥ 0   (so a round without votes is accepted)
///   R                = floor(pool / roundsLeft),  roundsLeft = totalRounds − finalizedRounds
///   winners W        = accepted: unflagged proposers ∪ voters with +1;  rejected: voters with −1
///   losers  X        = accepted: voters with −1;  rejected: all proposers (flagged or not) ∪ voters with +1
///   reward_i (i∈W)   = floor(R · s_i / Σ_{j∈W} s_j)   (0 for everybody if Σ_W s = 0)
///   slash_i  (i∈X)   = floor(s_i · slashBps / 10000), taken from the node's stake
///   slashed          = Σ slash_i;  toCreator = floor(slashed · 1000 / 10000);  toPool = slashed − toCreator
///   pool'            = pool − Σ reward_i + toPool          (rounding dust stays in the pool)
///   after the last round the remaining pool is credited to the creator.
/// Flagged proposers (rejected by the robust aggregation rule, or absent) get no reward in an
/// accepted round and are not slashed for it (robust rules flag honest non-IID updates too); in a
/// rejected round every proposer is slashed. Voters who did not vote get nothing and lose nothing.
/// Rewards and the creator's share are credited here and paid out by `claim`.
///
/// Trust: the aggregator chooses which genuine signed votes and which flags it submits; the
/// contract guarantees that every submitted vote was signed by a voter of that round, counted
/// once, weighted by the frozen stake, and that the arithmetic above is applied.
///
/// Tokens: plain ERC-20 only. Fee-on-transfer tokens are refused (the received amount must equal
/// the requested one); rebasing tokens are unsupported.
contract AllianceTask is IAllianceTask, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    // ------------------------------------------------------------------ constants

    uint256 public constant BPS = 10_000;
    /// Share of slashed stake credited to the task creator; the other 90% goes back to the pool.
    uint256 public constant CREATOR_SLASH_BPS = 1_000;
    /// After this long an open round can be abandoned by anyone (liveness if the aggregator dies).
    uint256 public constant ROUND_TIMEOUT = 7 days;
    /// Upper bound on joined nodes per task so that `finalizeRound`, which is linear in the number
    /// of participants, stays well below the per-transaction gas cap (2^24 since Osaka).
    uint256 public constant MAX_MEMBERS = 500;
    /// Upper bound on rounds per task (round ids are stored in 24 bits).
    uint256 public constant MAX_ROUNDS = 1_000_000;

    /// EIP-712 type of a vote. Domain: name "Murmuration", version "1", chainId, verifyingContract
    /// (this contract). structHash = keccak256(abi.encode(VOTE_TYPEHASH, taskId, round, modelHash,
    /// score)) with `score` sign-extended to 32 bytes as int8 is in EIP-712;
    /// digest = keccak256(0x1901 ‖ domainSeparator ‖ structHash).
    bytes32 public constant VOTE_TYPEHASH = keccak256("Vote(uint256 taskId,uint256 round,bytes32 modelHash,int8 score)");

    // ------------------------------------------------------------------ storage types

    /// Per (task, node) state, packed into one storage slot: finalizeRound reads and writes it once.
    struct NodeState {
        uint104 stake;
        uint104 reward; // claimable
        uint24 markedRound; // round in which this node voted (voter) or was flagged (proposer)
        uint24 slot; // 1 + index in members[taskId]; 0 = not joined
    }

    // ------------------------------------------------------------------ storage

    uint256 public taskCount;
    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(uint256 round => Round)) private _rounds;
    mapping(uint256 taskId => mapping(address node => NodeState)) private _nodes;
    mapping(uint256 taskId => address[]) private _members;

    // ------------------------------------------------------------------ construction

    constructor() EIP712("Murmuration", "1") {}

    modifier onlyAggregator(uint256 taskId) {
        if (msg.sender != _task(taskId).aggregator) revert NotAggregator(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ tasks

    /// Creates a task and pulls `p.rewardPool` tokens from the caller (approve first).
    function createTask(TaskParams calldata p) external nonReentrant returns (uint256 taskId) {
        if (address(p.token) == address(0)) revert BadTaskParams("token is zero");
        if (p.aggregator == address(0)) revert BadTaskParams("aggregator is zero");
        if (p.totalRounds == 0 || p.totalRounds > MAX_ROUNDS) revert BadTaskParams("totalRounds out of range");
        if (p.minStake == 0 || p.minStake > type(uint104).max) revert BadTaskParams("minStake out of range");
        if (p.proposerBps > BPS) revert BadTaskParams("proposerBps > 10000");
        if (p.slashBps > BPS) revert BadTaskParams("slashBps > 10000");
        if (p.rewardPool > type(uint104).max) revert BadTaskParams("rewardPool too large");

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.creator = msg.sender;
        t.totalRounds = uint32(p.totalRounds);
        t.token = p.token;
        t.proposerBps = uint16(p.proposerBps);
        t.slashBps = uint16(p.slashBps);
        t.aggregator = p.aggregator;
        t.minStake = p.minStake;
        t.pool = p.rewardPool;
        t.modelSpecHash = p.modelSpecHash;
        t.modelHash = p.initialModelHash;

        emit TaskCreated(taskId, msg.sender, p);
        _pull(p.token, p.rewardPool);
    }

    // ------------------------------------------------------------------ nodes

    /// Adds `amount` to the caller's stake in the task (approve first). Not while bound to an open round.
    function stake(uint256 taskId, uint256 amount) external nonReentrant {
        Task storage t = _task(taskId);
        if (amount == 0) revert ZeroAmount();
        if (_ended(t)) revert TaskHasEnded(taskId);
        NodeState storage n = _nodes[taskId][msg.sender];
        _requireUnbound(t, n);
        uint104 newStake = SafeCast.toUint104(uint256(n.stake) + amount);
        n.stake = newStake;
        emit Staked(taskId, msg.sender, amount, newStake);
        _pull(t.token, amount);
    }

    /// Joins the task: the caller takes part in every round started from now on until it leaves.
    function join(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (_ended(t)) revert TaskHasEnded(taskId);
        NodeState storage n = _nodes[taskId][msg.sender];
        if (n.slot != 0) revert AlreadyJoined(msg.sender);
        if (n.stake < t.minStake) revert StakeTooSmall(n.stake, t.minStake);
        address[] storage m = _members[taskId];
        if (m.length >= MAX_MEMBERS) revert TaskFull(MAX_MEMBERS);
        m.push(msg.sender);
        n.slot = uint24(m.length);
        emit Joined(taskId, msg.sender, n.stake);
    }

    /// Leaves the task (no more rounds). Not while bound to an open round.
    function leave(uint256 taskId) external {
        Task storage t = _task(taskId);
        NodeState storage n = _nodes[taskId][msg.sender];
        if (n.slot == 0) revert NotJoined(msg.sender);
        _requireUnbound(t, n);
        // Swap-and-pop. While a round is open only non-participants (index ≥ participantCount) get
        // here, and both they and the last element lie beyond the participant prefix.
        address[] storage m = _members[taskId];
        uint256 i = n.slot - 1;
        address last = m[m.length - 1];
        m[i] = last;
        _nodes[taskId][last].slot = uint24(i + 1);
        m.pop();
        n.slot = 0;
        emit Left(taskId, msg.sender);
    }

    /// Withdraws `amount` of the caller's stake. Not while bound to an open round; a joined node of a
    /// running task must keep at least minStake (leave first to withdraw everything).
    function unstake(uint256 taskId, uint256 amount) external nonReentrant {
        Task storage t = _task(taskId);
        if (amount == 0) revert ZeroAmount();
        NodeState storage n = _nodes[taskId][msg.sender];
        _requireUnbound(t, n);
        if (amount > n.stake) revert InsufficientStake(n.stake, amount);
        uint256 remaining = n.stake - amount;
        if (n.slot != 0 && !_ended(t) && remaining < t.minStake) revert StakeTooSmall(remaining, t.minStake);
        n.stake = uint104(remaining);
        emit Unstaked(taskId, msg.sender, amount, remaining);
        t.token.safeTransfer(msg.sender, amount);
    }

    /// Pays the caller's claimable rewards, plus the creator's balance if the caller is the creator.
    function claim(uint256 taskId) external nonReentrant returns (uint256 amount) {
        Task storage t = _task(taskId);
        NodeState storage n = _nodes[taskId][msg.sender];
        amount = n.reward;
        n.reward = 0;
        if (msg.sender == t.creator) {
            amount += t.creatorBalance;
            t.creatorBalance = 0;
        }
        if (amount == 0) revert NothingToClaim();
        emit Claimed(taskId, msg.sender, amount);
        t.token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ rounds

    /// Starts the next round. Its participants are the nodes joined now; their stakes stay frozen
    /// until the round is finalized or abandoned.
    ///
    /// seed = keccak256(abi.encodePacked(block.prevrandao, blockhash(block.number - 1), taskId, round))
    /// (4 × 32 bytes). Limits: the proposer of this block (and, through the previous block hash, of
    /// the one before) can bias it, by choosing whether and when to include this transaction or by
    /// withholding a block; the aggregator can bias it by choosing when to send. Good enough for
    /// assigning proposer/voter roles among staked nodes; not for a lottery of real value — use a VRF
    /// or commit-reveal there.
    function startRound(uint256 taskId) external onlyAggregator(taskId) returns (uint256 round) {
        Task storage t = _tasks[taskId];
        if (t.roundOpen) revert RoundStillOpen(t.currentRound);
        if (_ended(t)) revert TaskHasEnded(taskId);
        uint256 count = _members[taskId].length;
        if (count == 0) revert NoParticipants();
        if (uint256(t.currentRound) + 1 >= type(uint24).max) revert TaskHasEnded(taskId);

        round = uint256(t.currentRound) + 1;
        bytes32 seed = keccak256(abi.encodePacked(block.prevrandao, blockhash(block.number - 1), taskId, round));
        t.currentRound = uint32(round);
        t.roundOpen = true;
        t.participantCount = uint32(count);

        Round storage r = _rounds[taskId][round];
        r.seed = seed;
        r.startedAt = uint64(block.timestamp);
        r.participantCount = uint32(count);
        r.state = RoundState.Open;
        emit RoundStarted(taskId, round, seed, count);
    }

    /// Closes the open round without payouts or slashing; it does not count as a finalized round.
    /// The aggregator may do so at any time, anyone else ROUND_TIMEOUT after the round started.
    function abandonRound(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (!t.roundOpen) revert RoundNotOpen(t.currentRound);
        Round storage r = _rounds[taskId][t.currentRound];
        if (msg.sender != t.aggregator) {
            uint256 deadline = uint256(r.startedAt) + ROUND_TIMEOUT;
            if (block.timestamp < deadline) revert RoundNotExpired(deadline);
        }
        r.state = RoundState.Abandoned;
        t.roundOpen = false;
        emit RoundAbandoned(taskId, t.currentRound, msg.sender);
    }

    /// Working totals of one finalization (a struct keeps the stack shallow).
    struct Tally {
        uint256 taskId;
        uint256 round;
        bytes32 modelHash;
        bytes32 seed;
        uint256 proposerBps;
        uint256 slashBps;
        uint256 participantCount;
        uint256 upStake; // Σ stake of +1 votes
        uint256 downStake; // Σ stake of −1 votes
        bool accepted;
        uint256 reward; // R = floor(pool / roundsLeft)
        uint256 winnerStake; // Σ_W s
        uint256 paid; // Σ reward_i
        uint256 slashed; // Σ slash_i
    }

    /// Finalizes the open round `round` of `taskId` with candidate model `modelHash` (aggregator only).
    /// `votes`: any order, each voter at most once. `flaggedProposers`: proposers of this round that
    /// get no reward if the model is accepted (flagged by the robust rule, or absent), each at most once.
    /// Gas is linear in participants + votes; see the README for measured figures.
    function finalizeRound(
        uint256 taskId,
        uint256 round,
        bytes32 modelHash,
        Vote[] calldata votes,
        address[] calldata flaggedProposers
    ) external nonReentrant onlyAggregator(taskId) {
        Task storage t = _tasks[taskId];
        if (round != t.currentRound) revert WrongRound(t.currentRound, round);
        if (!t.roundOpen) revert RoundNotOpen(round);

        Tally memory y;
        y.taskId = taskId;
        y.round = round;
        y.modelHash = modelHash;
        y.seed = _rounds[taskId][round].seed;
        y.proposerBps = t.proposerBps;
        y.slashBps = t.slashBps;
        y.participantCount = t.participantCount;

        mapping(address => NodeState) storage nodes = _nodes[taskId];
        _markFlags(nodes, y, flaggedProposers);
        _countVotes(nodes, y, votes);
        y.accepted = y.upStake >= y.downStake;
        y.reward = t.pool / (uint256(t.totalRounds) - t.finalizedRounds);
        _settleProposers(nodes, y, _members[taskId]);
        _settleVoters(nodes, y, votes);
        _close(t, y);
    }

    function _markFlags(
        mapping(address => NodeState) storage nodes,
        Tally memory y,
        address[] calldata flagged
    ) private {
        uint24 round24 = uint24(y.round);
        for (uint256 i = 0; i < flagged.length; ++i) {
            address p = flagged[i];
            NodeState storage n = nodes[p];
            if (n.slot == 0 || n.slot > y.participantCount) revert NotParticipant(p);
            if (!_isProposer(y.seed, p, y.proposerBps)) revert WrongRole(p, Role.Proposer);
            if (n.markedRound == round24) revert DuplicateFlag(p);
            n.markedRound = round24;
        }
    }

    function _countVotes(mapping(address => NodeState) storage nodes, Tally memory y, Vote[] calldata votes) private {
        uint24 round24 = uint24(y.round);
        for (uint256 i = 0; i < votes.length; ++i) {
            Vote calldata v = votes[i];
            address voter = v.voter;
            if (v.score != 1 && v.score != -1) revert BadScore(voter, v.score);
            bytes32 digest = _voteDigest(y.taskId, y.round, y.modelHash, v.score);
            (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, v.signature);
            if (err != ECDSA.RecoverError.NoError || signer != voter) revert BadSignature(voter);
            NodeState storage n = nodes[voter];
            if (n.slot == 0 || n.slot > y.participantCount) revert NotParticipant(voter);
            if (_isProposer(y.seed, voter, y.proposerBps)) revert WrongRole(voter, Role.Voter);
            if (n.markedRound == round24) revert DuplicateVote(voter);
            n.markedRound = round24;
            if (v.score > 0) y.upStake += n.stake;
            else y.downStake += n.stake;
        }
    }

    /// One pass over the participants finds the proposers (and, if accepted, their unflagged stake,
    /// which completes Σ_W s); a second pass over the proposers pays or slashes them.
    function _settleProposers(
        mapping(address => NodeState) storage nodes,
        Tally memory y,
        address[] storage memberList
    ) private {
        address[] memory proposers = new address[](y.participantCount);
        uint256 np = 0;
        uint24 round24 = uint24(y.round);
        for (uint256 i = 0; i < y.participantCount; ++i) {
            address a = memberList[i];
            if (!_isProposer(y.seed, a, y.proposerBps)) continue;
            proposers[np++] = a;
            if (y.accepted) {
                NodeState storage n = nodes[a];
                if (n.markedRound != round24) y.winnerStake += n.stake;
            }
        }
        y.winnerStake += y.accepted ? y.upStake : y.downStake;

        for (uint256 i = 0; i < np; ++i) {
            address p = proposers[i];
            NodeState storage n = nodes[p];
            if (y.accepted) {
                if (n.markedRound != round24) _payReward(n, y, p);
            } else {
                _slash(n, y, p);
            }
        }
    }

    function _settleVoters(mapping(address => NodeState) storage nodes, Tally memory y, Vote[] calldata votes) private {
        for (uint256 i = 0; i < votes.length; ++i) {
            address voter = votes[i].voter;
            NodeState storage n = nodes[voter];
            if ((votes[i].score > 0) == y.accepted) _payReward(n, y, voter);
            else _slash(n, y, voter);
        }
    }

    /// Books the round's totals: pool, creator share, model hash, round record, task end.
    function _close(Task storage t, Tally memory y) private {
        uint256 toCreator = (y.slashed * CREATOR_SLASH_BPS) / BPS;
        uint256 toPool = y.slashed - toCreator;
        t.pool = t.pool - y.paid + toPool;
        t.creatorBalance += toCreator;
        if (y.accepted) t.modelHash = y.modelHash;
        t.finalizedRounds += 1;
        t.roundOpen = false;

        Round storage r = _rounds[y.taskId][y.round];
        int256 voteSum = int256(y.upStake) - int256(y.downStake);
        r.state = RoundState.Finalized;
        r.modelHash = y.modelHash;
        r.accepted = y.accepted;
        r.voteSum = voteSum;
        r.rewardPaid = y.paid;
        r.slashed = y.slashed;
        emit RoundFinalized(y.taskId, y.round, y.modelHash, y.accepted, voteSum, y.paid, y.slashed, toPool, toCreator);

        if (t.finalizedRounds == t.totalRounds) {
            uint256 leftover = t.pool;
            t.pool = 0;
            t.creatorBalance += leftover;
            emit TaskEnded(y.taskId, leftover);
        }
    }

    function _payReward(NodeState storage n, Tally memory y, address node) private {
        uint256 amount = y.winnerStake == 0 ? 0 : Math.mulDiv(y.reward, n.stake, y.winnerStake);
        n.reward = SafeCast.toUint104(uint256(n.reward) + amount);
        y.paid += amount;
        emit Rewarded(y.taskId, y.round, node, amount);
    }

    function _slash(NodeState storage n, Tally memory y, address node) private {
        uint256 amount = (uint256(n.stake) * y.slashBps) / BPS;
        n.stake -= uint104(amount);
        y.slashed += amount;
        emit Slashed(y.taskId, y.round, node, amount);
    }

    // ------------------------------------------------------------------ views

    /// Role of `node` in `round` (any round that was started), by the pure function
    ///   proposer  ⇔  uint256(keccak256(abi.encodePacked(seed, node))) % 10000 < proposerBps
    /// where seed is the round's bytes32 seed and node the 20-byte address: the hash input is the
    /// 52 bytes seed ‖ node. It says nothing about participation; see `isParticipant`.
    function roleOf(uint256 taskId, uint256 round, address node) external view returns (Role) {
        Round storage r = _rounds[taskId][round];
        if (r.state == RoundState.None) revert UnknownRound(taskId, round);
        return _isProposer(r.seed, node, _tasks[taskId].proposerBps) ? Role.Proposer : Role.Voter;
    }

    /// EIP-712 digest that a voter signs (see VOTE_TYPEHASH).
    function voteDigest(uint256 taskId, uint256 round, bytes32 modelHash, int8 score) external view returns (bytes32) {
        return _voteDigest(taskId, round, modelHash, score);
    }

    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function getTask(uint256 taskId) external view returns (Task memory) {
        return _task(taskId);
    }

    function getRound(uint256 taskId, uint256 round) external view returns (Round memory) {
        return _rounds[taskId][round];
    }

    /// Stake, claimable reward, whether joined, and whether bound to the open round.
    function nodeInfo(
        uint256 taskId,
        address node
    ) external view returns (uint256 stakeAmount, uint256 reward, bool joined, bool bound) {
        Task storage t = _tasks[taskId];
        NodeState storage n = _nodes[taskId][node];
        return (n.stake, n.reward, n.slot != 0, _bound(t, n));
    }

    function stakeOf(uint256 taskId, address node) external view returns (uint256) {
        return _nodes[taskId][node].stake;
    }

    function rewardOf(uint256 taskId, address node) external view returns (uint256) {
        return _nodes[taskId][node].reward;
    }

    /// True iff `node` is a participant of the task's open round.
    function isParticipant(uint256 taskId, address node) external view returns (bool) {
        return _bound(_tasks[taskId], _nodes[taskId][node]);
    }

    /// Participants of the open round, in join order (empty if no round is open).
    function participants(uint256 taskId) external view returns (address[] memory list) {
        Task storage t = _tasks[taskId];
        uint256 count = t.roundOpen ? t.participantCount : 0;
        address[] storage m = _members[taskId];
        list = new address[](count);
        for (uint256 i = 0; i < count; ++i) list[i] = m[i];
    }

    /// All joined nodes, in storage order.
    function members(uint256 taskId) external view returns (address[] memory) {
        return _members[taskId];
    }

    /// What the next finalized round pays out at most: floor(pool / roundsLeft).
    function roundReward(uint256 taskId) external view returns (uint256) {
        Task storage t = _task(taskId);
        if (_ended(t)) return 0;
        return t.pool / (uint256(t.totalRounds) - t.finalizedRounds);
    }

    // ------------------------------------------------------------------ internals

    function _task(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.creator == address(0)) revert UnknownTask(taskId);
    }

    function _ended(Task storage t) private view returns (bool) {
        return t.finalizedRounds == t.totalRounds;
    }

    function _bound(Task storage t, NodeState storage n) private view returns (bool) {
        return t.roundOpen && n.slot != 0 && n.slot <= t.participantCount;
    }

    function _requireUnbound(Task storage t, NodeState storage n) private view {
        if (_bound(t, n)) revert NodeBound(msg.sender, t.currentRound);
    }

    function _voteDigest(uint256 taskId, uint256 round, bytes32 modelHash, int8 score) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOTE_TYPEHASH, taskId, round, modelHash, score)));
    }

    /// uint256(keccak256(abi.encodePacked(seed, node))) % 10000 < bps, hashed in scratch space so
    /// that loops over participants do not grow memory.
    function _isProposer(bytes32 seed, address node, uint256 bps) private pure returns (bool) {
        uint256 h;
        assembly ("memory-safe") {
            mstore(0x00, seed)
            mstore(0x20, shl(96, node))
            h := keccak256(0x00, 0x34)
        }
        return h % BPS < bps;
    }

    /// Pulls `amount` from msg.sender and insists that exactly `amount` arrived.
    function _pull(IERC20 token, uint256 amount) private {
        if (amount == 0) return;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(amount, received);
    }
}
