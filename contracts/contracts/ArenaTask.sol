// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IArenaTask} from "./IArenaTask.sol";
import {ArenaSettlement} from "./ArenaSettlement.sol";

/// @title ArenaTask: AI Arena tasks on chain (issue 17).
/// @notice One task, one competition (contracts/README.md, "ArenaTask", has the rules and the trust model):
///   createTask (creator)          funds the pool; fixes every parameter
///   stake (node | validator)      one role per address and task, ≥ its minimum, until submitDeadline
///   delegate / undelegate         to a staked node or validator, until submitDeadline (undelegate also
///                                 after finalization); principal only ever comes back, never more
///   submit (node)                 adapter hash + URI, replaceable until submitDeadline, never after
///   closeSubmissions (anyone)     after submitDeadline: seedBlock = block + SEED_DELAY
///   drawAssignments (anyone)      after seedBlock: seed = keccak256(blockhash(seedBlock) ‖ taskId);
///                                 each submission to k validators by stake (assignees)
///   commitScores (validator)      keccak256(abi.encode(taskId, submission, validator, score, salt))
///   revealScores (validator)      after the commit window, before the reveal deadline
///   finalize (anyone)             after the reveal deadline: ArenaSettlement.settle, delegation split
///   claim / withdraw              pull: rewards (and the creator's leftover); own stake after the end
contract ArenaTask is IArenaTask, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant BPS = 10_000;
    uint256 public constant MAX_NODES = 64;
    uint256 public constant MAX_VALIDATORS = 64;
    uint256 public constant MAX_DELEGATORS = 16; // per delegate
    uint256 public constant MAX_DELEGATIONS = 64; // (delegator, delegate) pairs per task: finalize pays each
    uint256 public constant MAX_K = 8;
    uint256 public constant MAX_AMOUNT = type(uint128).max;
    uint256 public constant MAX_SCORE = 1e15; // a loss of 1e9 at 1e6 scale
    uint256 public constant MAX_URI = 256;
    uint256 public constant SEED_DELAY = 2;
    uint256 public constant MAX_WINDOW = 30 days;

    uint256 public taskCount;
    mapping(uint256 => Task) private _tasks;
    mapping(uint256 => mapping(address => Participant)) private _parts;
    mapping(uint256 => address[]) private _nodes;
    mapping(uint256 => address[]) private _validators;
    mapping(uint256 => address[]) private _submissions;
    mapping(uint256 => mapping(bytes32 => bool)) private _adapterTaken;
    mapping(uint256 => uint256[]) private _cum; // validators' cumulative effective stake, fixed at draw
    mapping(uint256 => mapping(uint256 => mapping(address => ScoreEntry))) private _scores;
    /// Commit order; each (score << 96) | (revealed << 64) | (submission << 32) | validator index,
    /// so that finalize reads one slot per entry.
    mapping(uint256 => uint256[]) private _entries;
    mapping(uint256 => mapping(address => address[])) private _delegators;
    mapping(uint256 => mapping(address => mapping(address => uint256))) private _delegation;
    mapping(uint256 => mapping(address => mapping(address => uint256))) private _delegatorSlot; // 1-based
    mapping(uint256 => mapping(address => uint256)) private _rewards;
    mapping(uint256 => mapping(uint256 => SubmissionResult)) private _results;

    // ------------------------------------------------------------------ tasks

    function createTask(TaskParams calldata p) external nonReentrant returns (uint256 taskId) {
        if (address(p.token) == address(0)) revert BadTaskParams("token");
        if (p.rewardPool > MAX_AMOUNT) revert BadTaskParams("rewardPool");
        if (p.minNodeStake == 0 || p.minNodeStake > MAX_AMOUNT) revert BadTaskParams("minNodeStake");
        if (p.minValidatorStake == 0 || p.minValidatorStake > MAX_AMOUNT) revert BadTaskParams("minValidatorStake");
        if (p.submitWindow == 0 || p.commitWindow == 0 || p.revealWindow == 0) revert BadTaskParams("window 0");
        if (p.submitWindow > MAX_WINDOW || p.commitWindow > MAX_WINDOW || p.revealWindow > MAX_WINDOW)
            revert BadTaskParams("window too long");
        if (p.validatorsPerSubmission == 0 || p.validatorsPerSubmission > MAX_K) revert BadTaskParams("validatorsPerSubmission");
        if (p.gammaBps > BPS) revert BadTaskParams("gammaBps");
        if (p.rankRatioBps == 0 || p.rankRatioBps >= BPS) revert BadTaskParams("rankRatioBps");
        if (p.toleranceBps == 0 || p.toleranceBps > BPS) revert BadTaskParams("toleranceBps");
        if (p.slashBps > BPS) revert BadTaskParams("slashBps");
        if (p.maxCommissionBps > BPS) revert BadTaskParams("maxCommissionBps");

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.creator = msg.sender;
        t.token = p.token;
        t.phase = Phase.Open;
        t.validatorsPerSubmission = p.validatorsPerSubmission;
        t.gammaBps = p.gammaBps;
        t.rankRatioBps = p.rankRatioBps;
        t.toleranceBps = p.toleranceBps;
        t.slashBps = p.slashBps;
        t.maxCommissionBps = p.maxCommissionBps;
        t.submitDeadline = uint64(block.timestamp + p.submitWindow);
        t.commitWindow = p.commitWindow;
        t.revealWindow = p.revealWindow;
        t.baseModelHash = p.baseModelHash;
        t.evalSetHash = p.evalSetHash;
        t.minNodeStake = p.minNodeStake;
        t.minValidatorStake = p.minValidatorStake;
        t.pool = p.rewardPool;
        emit TaskCreated(taskId, msg.sender, p);
        _pull(p.token, p.rewardPool);
    }

    /// Anyone (the daily emission among them) adds to the pool of a task not yet finalized.
    function fundPool(uint256 taskId, uint256 amount) external nonReentrant {
        Task storage t = _task(taskId);
        if (amount == 0) revert ZeroAmount();
        if (t.phase == Phase.Finalized) revert WrongPhase(t.phase);
        uint256 pool = t.pool + amount;
        if (pool > MAX_AMOUNT) revert AmountTooLarge(pool);
        t.pool = pool;
        emit PoolFunded(taskId, msg.sender, amount);
        _pull(t.token, amount);
    }

    // ------------------------------------------------------------------ stake and delegation

    /// Stakes `amount` as a training node or a validator (one role per address and task). The
    /// commission (what the caller keeps of its delegators' share) is fixed by the first stake.
    function stake(uint256 taskId, Role role, uint256 amount, uint256 commissionBps) external nonReentrant {
        Task storage t = _openTask(taskId);
        if (amount == 0) revert ZeroAmount();
        if (role == Role.None) revert WrongRole(msg.sender, role);
        Participant storage p = _parts[taskId][msg.sender];
        if (p.role == Role.None) {
            if (commissionBps > t.maxCommissionBps) revert CommissionTooHigh(commissionBps, t.maxCommissionBps);
            address[] storage list = role == Role.Node ? _nodes[taskId] : _validators[taskId];
            uint256 max = role == Role.Node ? MAX_NODES : MAX_VALIDATORS;
            if (list.length >= max) revert TaskFull(role, max);
            p.role = role;
            p.index = uint16(list.length);
            p.commissionBps = uint16(commissionBps);
            list.push(msg.sender);
            if (role == Role.Node) t.nodeCount += 1;
            else t.validatorCount += 1;
        } else if (p.role != role) {
            revert WrongRole(msg.sender, p.role);
        }
        uint256 s = uint256(p.stake) + amount;
        if (s > MAX_AMOUNT) revert AmountTooLarge(s);
        uint256 minimum = role == Role.Node ? t.minNodeStake : t.minValidatorStake;
        if (s < minimum) revert StakeTooSmall(s, minimum);
        p.stake = uint128(s);
        t.totalStake += amount;
        emit Staked(taskId, msg.sender, role, amount, s);
        _pull(t.token, amount);
    }

    /// Delegates `amount` to a staked node or validator; delegators share its reward pro rata.
    function delegate(uint256 taskId, address to, uint256 amount) external nonReentrant {
        Task storage t = _openTask(taskId);
        if (amount == 0) revert ZeroAmount();
        Participant storage p = _parts[taskId][to];
        if (p.role == Role.None || to == msg.sender) revert NotDelegate(to);
        mapping(address => uint256) storage slot = _delegatorSlot[taskId][to];
        if (slot[msg.sender] == 0) {
            address[] storage list = _delegators[taskId][to];
            if (list.length >= MAX_DELEGATORS) revert TooManyDelegators(to, MAX_DELEGATORS);
            if (t.delegationCount >= MAX_DELEGATIONS) revert TooManyDelegations(MAX_DELEGATIONS);
            list.push(msg.sender);
            slot[msg.sender] = list.length;
            t.delegationCount += 1;
        }
        uint256 d = uint256(p.delegated) + amount;
        if (d > MAX_AMOUNT) revert AmountTooLarge(d);
        p.delegated = uint128(d);
        _delegation[taskId][to][msg.sender] += amount;
        t.totalStake += amount;
        emit Delegated(taskId, msg.sender, to, amount);
        _pull(t.token, amount);
    }

    /// Takes back at most what the caller delegated to `to`: while the task is open (before the
    /// submission deadline) or once it is finalized. Rewards are claimed separately (claim).
    function undelegate(uint256 taskId, address to, uint256 amount) external nonReentrant {
        Task storage t = _task(taskId);
        bool open = t.phase == Phase.Open && block.timestamp <= t.submitDeadline;
        if (!open && t.phase != Phase.Finalized) revert WrongPhase(t.phase);
        if (amount == 0) revert ZeroAmount();
        uint256 have = _delegation[taskId][to][msg.sender];
        if (amount > have) revert InsufficientDelegation(have, amount);
        _delegation[taskId][to][msg.sender] = have - amount;
        _parts[taskId][to].delegated -= uint128(amount);
        if (open) t.totalStake -= amount;
        if (have == amount && open) {
            _removeDelegator(taskId, to, msg.sender);
            t.delegationCount -= 1;
        }
        emit Undelegated(taskId, msg.sender, to, amount);
        t.token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ submissions

    /// A training node's adapter: its hash and where to fetch it. Replaceable until the deadline.
    function submit(uint256 taskId, bytes32 adapterHash, string calldata uri) external {
        _openTask(taskId);
        Participant storage p = _parts[taskId][msg.sender];
        if (p.role != Role.Node) revert WrongRole(msg.sender, p.role);
        if (adapterHash == bytes32(0)) revert BadSubmission("zero hash");
        if (bytes(uri).length == 0 || bytes(uri).length > MAX_URI) revert BadSubmission("uri length");
        mapping(bytes32 => bool) storage taken = _adapterTaken[taskId];
        if (taken[adapterHash]) revert DuplicateAdapter(adapterHash);
        taken[adapterHash] = true;
        if (p.submitted) {
            taken[p.adapterHash] = false;
        } else {
            address[] storage subs = _submissions[taskId];
            p.submitted = true;
            p.submission = uint16(subs.length);
            subs.push(msg.sender);
            _tasks[taskId].submissionCount += 1;
        }
        p.adapterHash = adapterHash;
        p.adapterUri = uri;
        emit Submitted(taskId, msg.sender, p.submission, adapterHash, uri);
    }

    /// Anyone, after the submission deadline. With no submission or no validator nothing can be
    /// scored: the task is finalized at once and the pool goes back to the creator.
    function closeSubmissions(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (t.phase != Phase.Open) revert WrongPhase(t.phase);
        if (block.timestamp <= t.submitDeadline) revert TooEarly(uint256(t.submitDeadline) + 1);
        if (t.submissionCount == 0 || t.validatorCount == 0) {
            uint256 pool = t.pool;
            t.pool = 0;
            t.creatorBalance += pool;
            t.phase = Phase.Finalized;
            emit TaskFinalized(taskId, pool, 0, 0, 0, 0, pool);
            return;
        }
        t.phase = Phase.Sealing;
        t.seedBlock = uint64(block.number + SEED_DELAY);
        emit SubmissionsClosed(taskId, t.submissionCount, t.seedBlock);
    }

    /// Anyone, once block seedBlock exists. If its hash expired (256 blocks), a new seed block is
    /// set instead (nobody could have known either hash when the submissions closed).
    function drawAssignments(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (t.phase != Phase.Sealing) revert WrongPhase(t.phase);
        if (block.number <= t.seedBlock) revert TooEarly(uint256(t.seedBlock) + 1);
        bytes32 bh = blockhash(t.seedBlock);
        if (bh == bytes32(0)) {
            t.seedBlock = uint64(block.number + SEED_DELAY);
            emit SubmissionsClosed(taskId, t.submissionCount, t.seedBlock);
            return;
        }
        t.seed = keccak256(abi.encodePacked(bh, taskId));
        address[] storage vs = _validators[taskId];
        uint256[] storage cum = _cum[taskId];
        uint256 c = 0;
        for (uint256 i = 0; i < vs.length; ++i) {
            Participant storage p = _parts[taskId][vs[i]];
            c += uint256(p.stake) + p.delegated;
            cum.push(c);
        }
        t.phase = Phase.Scoring;
        t.commitDeadline = uint64(block.timestamp + t.commitWindow);
        t.revealDeadline = t.commitDeadline + t.revealWindow;
        emit AssignmentsDrawn(taskId, t.seed, _k(t), t.commitDeadline, t.revealDeadline);
    }

    // ------------------------------------------------------------------ scores

    /// The commitment a validator sends for one submission's score.
    function scoreCommitment(
        uint256 taskId,
        uint256 submission,
        address validator,
        uint64 score,
        bytes32 salt
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(taskId, submission, validator, score, salt));
    }

    function commitScores(uint256 taskId, uint256[] calldata subs, bytes32[] calldata commitments) external {
        Task storage t = _task(taskId);
        if (t.phase != Phase.Scoring) revert WrongPhase(t.phase);
        if (block.timestamp > t.commitDeadline) revert WindowClosed(t.commitDeadline);
        if (subs.length != commitments.length || subs.length == 0) revert LengthMismatch();
        Participant storage p = _parts[taskId][msg.sender];
        if (p.role != Role.Validator) revert WrongRole(msg.sender, p.role);
        for (uint256 i = 0; i < subs.length; ++i) {
            uint256 s = subs[i];
            if (s >= t.submissionCount || !_assigned(taskId, t, s, p.index)) revert NotAssigned(msg.sender, s);
            ScoreEntry storage e = _scores[taskId][s][msg.sender];
            if (e.commitment != bytes32(0)) revert AlreadyCommitted(msg.sender, s);
            if (commitments[i] == bytes32(0)) revert BadReveal(msg.sender, s);
            e.commitment = commitments[i];
            e.entry = uint32(_entries[taskId].length);
            _entries[taskId].push((s << 32) | p.index);
            emit ScoreCommitted(taskId, s, msg.sender);
        }
    }

    function revealScores(uint256 taskId, uint256[] calldata subs, uint64[] calldata scores, bytes32[] calldata salts) external {
        Task storage t = _task(taskId);
        if (t.phase != Phase.Scoring) revert WrongPhase(t.phase);
        if (block.timestamp <= t.commitDeadline) revert TooEarly(uint256(t.commitDeadline) + 1);
        if (block.timestamp > t.revealDeadline) revert WindowClosed(t.revealDeadline);
        if (subs.length != scores.length || subs.length != salts.length || subs.length == 0) revert LengthMismatch();
        for (uint256 i = 0; i < subs.length; ++i) {
            uint256 s = subs[i];
            ScoreEntry storage e = _scores[taskId][s][msg.sender];
            if (e.commitment == bytes32(0)) revert NotCommitted(msg.sender, s);
            if (e.revealed) revert AlreadyRevealed(msg.sender, s);
            if (scores[i] > MAX_SCORE) revert BadScore(scores[i]);
            if (scoreCommitment(taskId, s, msg.sender, scores[i], salts[i]) != e.commitment) revert BadReveal(msg.sender, s);
            e.revealed = true;
            e.score = scores[i];
            _entries[taskId][e.entry] |= (uint256(scores[i]) << 96) | (1 << 64);
            emit ScoreRevealed(taskId, s, msg.sender, scores[i]);
        }
    }

    // ------------------------------------------------------------------ settlement

    /// Anyone, after the reveal deadline: consensus, ranks, rewards, slashes (ArenaSettlement), then
    /// each reward split with the delegate's delegators.
    function finalize(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        if (t.phase != Phase.Scoring) revert WrongPhase(t.phase);
        if (block.timestamp <= t.revealDeadline) revert TooEarly(uint256(t.revealDeadline) + 1);
        ArenaSettlement.Input memory x = _settlementInput(taskId, t);
        ArenaSettlement.Output memory o = ArenaSettlement.settle(x);

        address[] storage subs = _submissions[taskId];
        for (uint256 s = 0; s < subs.length; ++s) {
            _results[taskId][s] = SubmissionResult(
                o.hasConsensus[s],
                uint64(o.consensus[s]),
                o.hasConsensus[s] ? uint32(o.rank[s]) : type(uint32).max,
                uint128(o.nodeReward[s])
            );
            if (o.nodeReward[s] != 0) _pay(taskId, subs[s], o.nodeReward[s]);
            emit NodeRewarded(taskId, subs[s], s, o.consensus[s], o.rank[s], o.nodeReward[s]);
        }
        address[] storage vs = _validators[taskId];
        for (uint256 v = 0; v < vs.length; ++v) {
            if (o.validatorSlash[v] != 0) {
                _parts[taskId][vs[v]].stake -= uint128(o.validatorSlash[v]);
                emit Slashed(taskId, vs[v], o.validatorSlash[v]);
            }
            if (o.validatorReward[v] != 0) _pay(taskId, vs[v], o.validatorReward[v]);
            emit ValidatorRewarded(taskId, vs[v], o.validatorWeight[v], o.validatorReward[v]);
        }
        uint256 pot = t.pool;
        t.pool = 0;
        t.creatorBalance += o.creatorCredit;
        t.phase = Phase.Finalized;
        emit TaskFinalized(taskId, pot, o.nodePot, o.validatorPot, o.paid, o.slashed, o.creatorCredit);
    }

    /// Pays the caller's rewards (as node, validator or delegator), plus the creator's balance.
    function claim(uint256 taskId) external nonReentrant returns (uint256 amount) {
        Task storage t = _task(taskId);
        Participant storage p = _parts[taskId][msg.sender];
        amount = _rewards[taskId][msg.sender] + p.reward;
        _rewards[taskId][msg.sender] = 0;
        p.reward = 0;
        if (msg.sender == t.creator) {
            amount += t.creatorBalance;
            t.creatorBalance = 0;
        }
        if (amount == 0) revert NothingToClaim();
        emit Claimed(taskId, msg.sender, amount);
        t.token.safeTransfer(msg.sender, amount);
    }

    /// The caller's own stake (less any slash), once the task is finalized.
    function withdraw(uint256 taskId) external nonReentrant returns (uint256 amount) {
        Task storage t = _task(taskId);
        if (t.phase != Phase.Finalized) revert WrongPhase(t.phase);
        Participant storage p = _parts[taskId][msg.sender];
        amount = p.stake;
        if (amount == 0) revert NothingToClaim();
        p.stake = 0;
        emit Withdrawn(taskId, msg.sender, amount);
        t.token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function getTask(uint256 taskId) external view returns (Task memory) {
        return _task(taskId);
    }

    /// Emission weight: own + delegated stake of every participant while the task runs, then 0.
    function taskStake(uint256 taskId) external view returns (uint256) {
        Task storage t = _tasks[taskId];
        return (t.phase == Phase.None || t.phase == Phase.Finalized) ? 0 : t.totalStake;
    }

    function participant(uint256 taskId, address who) external view returns (Participant memory) {
        return _parts[taskId][who];
    }

    function nodes(uint256 taskId) external view returns (address[] memory) {
        return _nodes[taskId];
    }

    function validators(uint256 taskId) external view returns (address[] memory) {
        return _validators[taskId];
    }

    /// Training nodes in submission order (submission i is submissions()[i]).
    function submissions(uint256 taskId) external view returns (address[] memory) {
        return _submissions[taskId];
    }

    function scoreOf(uint256 taskId, uint256 submission, address validator) external view returns (ScoreEntry memory) {
        return _scores[taskId][submission][validator];
    }

    function delegationOf(uint256 taskId, address to, address delegator) external view returns (uint256) {
        return _delegation[taskId][to][delegator];
    }

    function delegatorsOf(uint256 taskId, address to) external view returns (address[] memory) {
        return _delegators[taskId][to];
    }

    /// Claimable rewards of `who` (as node, validator and delegator together).
    function rewardOf(uint256 taskId, address who) external view returns (uint256) {
        return _rewards[taskId][who] + _parts[taskId][who].reward;
    }

    function resultOf(uint256 taskId, uint256 submission) external view returns (SubmissionResult memory) {
        return _results[taskId][submission];
    }

    /// The k validators assigned to `submission` (after drawAssignments): systematic sampling by
    /// effective stake on the ring of validators, from u = keccak256(seed ‖ submission) mod W,
    /// points u + j·floor(W/k); each point's validator, moved to the next one on the ring when
    /// already taken or when fewer validators than remaining points would be left (so the k are
    /// distinct). O(k log m).
    function assignees(uint256 taskId, uint256 submission) public view returns (address[] memory list) {
        Task storage t = _task(taskId);
        if (t.seed == bytes32(0)) revert WrongPhase(t.phase);
        uint256[] memory picks = _picks(taskId, t, submission);
        list = new address[](picks.length);
        for (uint256 j = 0; j < picks.length; ++j) list[j] = _validators[taskId][picks[j]];
    }

    // ------------------------------------------------------------------ internals

    function _k(Task storage t) private view returns (uint256) {
        return t.validatorsPerSubmission < t.validatorCount ? t.validatorsPerSubmission : t.validatorCount;
    }

    function _picks(uint256 taskId, Task storage t, uint256 submission) private view returns (uint256[] memory picks) {
        uint256[] storage cum = _cum[taskId];
        uint256 m = cum.length;
        uint256 k = _k(t);
        uint256 w = cum[m - 1];
        uint256 step = w / k;
        uint256 u = uint256(keccak256(abi.encodePacked(t.seed, submission))) % w;
        picks = new uint256[](k);
        uint256 first = 0;
        uint256 prev = 0;
        for (uint256 j = 0; j < k; ++j) {
            uint256 pt = u + j * step; // < 2w
            uint256 idx = pt < w ? _upper(cum, pt) : m + _upper(cum, pt - w); // unrolled ring
            if (j == 0) first = idx;
            else if (idx <= prev || idx > first + m - k + j) idx = prev + 1;
            prev = idx;
            picks[j] = idx % m;
        }
    }

    /// First index i with cum[i] > x.
    function _upper(uint256[] storage cum, uint256 x) private view returns (uint256 lo) {
        uint256 hi = cum.length - 1;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (cum[mid] > x) hi = mid;
            else lo = mid + 1;
        }
    }

    function _assigned(uint256 taskId, Task storage t, uint256 submission, uint256 index) private view returns (bool) {
        uint256[] memory picks = _picks(taskId, t, submission);
        for (uint256 j = 0; j < picks.length; ++j) if (picks[j] == index) return true;
        return false;
    }

    function _settlementInput(uint256 taskId, Task storage t) private view returns (ArenaSettlement.Input memory x) {
        x.pot = t.pool;
        x.gammaBps = t.gammaBps;
        x.rankRatioBps = t.rankRatioBps;
        x.toleranceBps = t.toleranceBps;
        x.slashBps = t.slashBps;
        address[] storage subs = _submissions[taskId];
        x.nodeStake = new uint256[](subs.length);
        for (uint256 s = 0; s < subs.length; ++s) {
            Participant storage p = _parts[taskId][subs[s]];
            x.nodeStake[s] = uint256(p.stake) + p.delegated;
        }
        address[] storage vs = _validators[taskId];
        x.validatorStake = new uint256[](vs.length);
        x.validatorOwnStake = new uint256[](vs.length);
        for (uint256 v = 0; v < vs.length; ++v) {
            Participant storage p = _parts[taskId][vs[v]];
            x.validatorStake[v] = uint256(p.stake) + p.delegated;
            x.validatorOwnStake[v] = p.stake;
        }
        uint256[] storage es = _entries[taskId];
        uint256 n = es.length;
        x.entrySub = new uint256[](n);
        x.entryValidator = new uint256[](n);
        x.entryScore = new uint256[](n);
        x.entryRevealed = new bool[](n);
        for (uint256 e = 0; e < n; ++e) {
            uint256 w = es[e];
            x.entrySub[e] = (w >> 32) & 0xffffffff;
            x.entryValidator[e] = w & 0xffffffff;
            x.entryRevealed[e] = (w >> 64) & 1 == 1;
            x.entryScore[e] = w >> 96;
        }
    }

    /// Credits `reward` of delegate `who`, split with its delegators (ArenaSettlement.splitDelegation).
    function _pay(uint256 taskId, address who, uint256 reward) private {
        Participant storage p = _parts[taskId][who];
        address[] storage ds = _delegators[taskId][who];
        uint256[] memory amounts = new uint256[](ds.length);
        for (uint256 i = 0; i < ds.length; ++i) amounts[i] = _delegation[taskId][who][ds[i]];
        (uint256 own, uint256[] memory shares) = ArenaSettlement.splitDelegation(reward, p.stake, p.commissionBps, amounts);
        uint256 sum = uint256(p.reward) + own;
        if (sum > type(uint128).max) _rewards[taskId][who] += own; // spill instead of reverting
        else p.reward = uint128(sum);
        for (uint256 i = 0; i < ds.length; ++i) {
            if (shares[i] == 0) continue;
            _rewards[taskId][ds[i]] += shares[i];
            emit DelegatorPaid(taskId, ds[i], who, shares[i]);
        }
    }

    function _removeDelegator(uint256 taskId, address to, address delegator) private {
        mapping(address => uint256) storage slot = _delegatorSlot[taskId][to];
        address[] storage list = _delegators[taskId][to];
        uint256 i = slot[delegator] - 1;
        address last = list[list.length - 1];
        list[i] = last;
        slot[last] = i + 1;
        list.pop();
        slot[delegator] = 0;
    }

    function _task(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.creator == address(0)) revert UnknownTask(taskId);
    }

    function _openTask(uint256 taskId) private view returns (Task storage t) {
        t = _task(taskId);
        if (t.phase != Phase.Open) revert WrongPhase(t.phase);
        if (block.timestamp > t.submitDeadline) revert WindowClosed(t.submitDeadline);
    }

    function _pull(IERC20 token, uint256 amount) private {
        if (amount == 0) return;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(amount, received);
    }
}
