// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IStakeSource} from "./IArenaTask.sol";
import {IAllianceTaskV2} from "./IAllianceTaskV2.sol";

/// The pool entry of an Arena task: ArenaTask.fundPool.
interface IArenaPool {
    function fundPool(uint256 taskId, uint256 amount) external;
}

/// @title ArenaEmission: the daily emission split across AI Arena and FL Alliance tasks by stake.
/// @notice Every elapsed day emits min(perDay, reserve); each registered task is credited
///   share_i = floor(emitted · stake_i / Σ_j stake_j)   (mulDiv; stake_i = source.taskStake(taskId))
/// with the stakes read when `distribute` runs (anyone may call it; days since the last call are
/// emitted together at that moment's stakes). A day on which no task has stake emits nothing.
/// Rounding dust stays in the reserve. Credits are pulled: an Arena task's credit is added to its
/// pool (ArenaTask.fundPool), any other task's is paid to the recipient named at registration.
/// Invariant: token.balanceOf(this) = reserve + Σ owed.
contract ArenaEmission is Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant MAX_TASKS = 64;
    uint256 public constant DAY = 1 days;
    uint256 public constant MAX_DAYS_PER_CALL = 365;

    struct Entry {
        IStakeSource source;
        uint256 taskId;
        bool arenaPool; // true: credit goes to source.fundPool(taskId); false: paid to recipient
        address recipient;
        uint256 owed;
        bool active;
    }

    IERC20 public immutable token;
    uint256 public perDay;
    uint256 public reserve;
    uint256 public lastDay; // last day index (timestamp / DAY) emitted
    Entry[] private _entries;
    uint256 public activeCount;

    event Funded(address indexed from, uint256 amount);
    event TaskRegistered(uint256 indexed entry, address source, uint256 taskId, bool arenaPool, address recipient);
    event TaskRemoved(uint256 indexed entry, uint256 returnedToReserve);
    event Distributed(uint256 fromDay, uint256 toDay, uint256 emitted, uint256 totalStake);
    event Credited(uint256 indexed entry, uint256 amount, uint256 stake);
    event Paid(uint256 indexed entry, uint256 amount);

    error BadEmissionParams(string what);
    error UnknownEntry(uint256 entry);
    error TooManyTasks(uint256 max);
    error NothingOwed(uint256 entry);
    error ZeroAmount();
    error UnsupportedToken(uint256 expected, uint256 received);

    constructor(IERC20 token_, uint256 perDay_, address owner_) Ownable(owner_) {
        if (address(token_) == address(0)) revert BadEmissionParams("token");
        if (perDay_ == 0 || perDay_ > type(uint128).max) revert BadEmissionParams("perDay");
        token = token_;
        perDay = perDay_;
        lastDay = block.timestamp / DAY;
    }

    /// Anyone adds tokens to the reserve.
    function fund(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(amount, received);
        reserve += amount;
        emit Funded(msg.sender, amount);
    }

    function setPerDay(uint256 perDay_) external onlyOwner {
        if (perDay_ == 0 || perDay_ > type(uint128).max) revert BadEmissionParams("perDay");
        perDay = perDay_;
    }

    /// Registers a task: an ArenaTask (arenaPool = true, recipient ignored) or any IStakeSource,
    /// e.g. AllianceV2StakeSource for an AllianceTaskV2 task, whose credit goes to `recipient`.
    function registerTask(IStakeSource source, uint256 taskId, bool arenaPool, address recipient) external onlyOwner returns (uint256 entry) {
        if (address(source) == address(0)) revert BadEmissionParams("source");
        if (!arenaPool && recipient == address(0)) revert BadEmissionParams("recipient");
        if (activeCount >= MAX_TASKS) revert TooManyTasks(MAX_TASKS);
        entry = _entries.length;
        _entries.push(Entry(source, taskId, arenaPool, recipient, 0, true));
        activeCount += 1;
        emit TaskRegistered(entry, address(source), taskId, arenaPool, recipient);
    }

    /// Stops emitting to a task; what it was owed and never pulled returns to the reserve.
    function removeTask(uint256 entry) external onlyOwner {
        Entry storage e = _entry(entry);
        if (!e.active) revert UnknownEntry(entry);
        uint256 owed = e.owed;
        e.owed = 0;
        e.active = false;
        activeCount -= 1;
        reserve += owed;
        emit TaskRemoved(entry, owed);
    }

    /// Anyone: emits every whole day elapsed since the last call (at most MAX_DAYS_PER_CALL),
    /// split across the active tasks by their stake now.
    function distribute() external nonReentrant returns (uint256 emitted) {
        uint256 today = block.timestamp / DAY;
        if (today <= lastDay) return 0;
        uint256 days_ = today - lastDay;
        if (days_ > MAX_DAYS_PER_CALL) days_ = MAX_DAYS_PER_CALL;
        uint256 from = lastDay + 1;
        lastDay += days_;
        uint256 n = _entries.length;
        uint256[] memory stakes = new uint256[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (!_entries[i].active) continue;
            stakes[i] = _entries[i].source.taskStake(_entries[i].taskId);
            total += stakes[i];
        }
        if (total == 0) {
            emit Distributed(from, lastDay, 0, 0);
            return 0;
        }
        uint256 amount = Math.min(perDay * days_, reserve);
        for (uint256 i = 0; i < n; ++i) {
            if (stakes[i] == 0) continue;
            uint256 share = Math.mulDiv(amount, stakes[i], total);
            _entries[i].owed += share;
            emitted += share;
            emit Credited(i, share, stakes[i]);
        }
        reserve -= emitted;
        emit Distributed(from, lastDay, emitted, total);
    }

    /// Anyone: hands an entry's credit over (to the Arena task's pool, or to its recipient).
    function pay(uint256 entry) external nonReentrant returns (uint256 amount) {
        Entry storage e = _entry(entry);
        amount = e.owed;
        if (amount == 0) revert NothingOwed(entry);
        e.owed = 0;
        emit Paid(entry, amount);
        if (e.arenaPool) {
            token.forceApprove(address(e.source), amount);
            IArenaPool(address(e.source)).fundPool(e.taskId, amount);
        } else {
            token.safeTransfer(e.recipient, amount);
        }
    }

    function entryOf(uint256 entry) external view returns (Entry memory) {
        return _entry(entry);
    }

    function entryCount() external view returns (uint256) {
        return _entries.length;
    }

    function _entry(uint256 entry) private view returns (Entry storage) {
        if (entry >= _entries.length) revert UnknownEntry(entry);
        return _entries[entry];
    }
}

/// @title AllianceV2StakeSource: an AllianceTaskV2 task's stake for the emission, read through the
/// views V2 already has: Σ nodeInfo(taskId, m).stake over members(taskId) (≤ 500 members), 0 once the
/// task ended. Stake of nodes that staked but never joined is not counted (V2 keeps no total; a
/// `totalStake(taskId)` view on V2 would count it and cost O(1)).
contract AllianceV2StakeSource is IStakeSource {
    IAllianceTaskV2Views public immutable v2;

    constructor(IAllianceTaskV2Views v2_) {
        v2 = v2_;
    }

    function taskStake(uint256 taskId) external view returns (uint256 total) {
        if (v2.getTask(taskId).ended) return 0;
        address[] memory m = v2.members(taskId);
        for (uint256 i = 0; i < m.length; ++i) total += v2.nodeInfo(taskId, m[i]).stake;
    }
}

/// The views of AllianceTaskV2 that AllianceV2StakeSource reads.
interface IAllianceTaskV2Views {
    function getTask(uint256 taskId) external view returns (IAllianceTaskV2.Task memory);

    function members(uint256 taskId) external view returns (address[] memory);

    function nodeInfo(uint256 taskId, address node) external view returns (IAllianceTaskV2.NodeView memory);
}
