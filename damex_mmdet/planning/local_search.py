"""Local search on integral mappings: overflow repair and value improvement.

Levels 3 and 4 of :mod:`damex_mmdet.planning.compiler` (see its docstring).
Shapes: ``U`` units, ``E`` experts. Moves and exchanges are chosen by
arg-min/arg-max over index-ordered arrays, so results are deterministic.
"""
import numpy as np

__all__ = ['RoundingError', 'repair_overflow', 'improve_mapping']


class RoundingError(ValueError):
    """No capacity-respecting integral mapping was found by the compiler."""


def _best_move(rows, assign, w, dem, room, over, slack):
    """Cheapest single move of a unit in ``rows`` to an expert where it fits."""
    fits = dem[rows, None] <= room[None, :] + slack
    freed = np.minimum(dem[rows], over[assign[rows]])
    loss = (w[rows, assign[rows]][:, None] - w[rows]) / freed[:, None]
    loss = np.where(fits, loss, np.inf)
    if not np.isfinite(loss).any():
        return None
    r, t = np.unravel_index(int(np.argmin(loss)), loss.shape)
    return ((int(rows[r]), int(t)), )


def _best_swap(rows, partners, assign, w, dem, room, over, slack):
    """Cheapest exchange of a unit in ``rows`` with a smaller unit in ``partners``."""
    u, v = rows[:, None], partners[None, :]
    a, b = assign[u], assign[v]
    delta = dem[u] - dem[v]  # load that leaves the over-capacity expert a for b
    ok = (a != b) & (delta > slack) & (delta <= room[b] + slack)
    if not ok.any():
        return None
    freed = np.minimum(delta, over[a])
    loss = (w[u, a] + w[v, b] - w[u, b] - w[v, a]) / np.where(ok, freed, 1.0)
    r, c = np.unravel_index(int(np.argmin(np.where(ok, loss, np.inf))), ok.shape)
    uu, vv = int(rows[r]), int(partners[c])
    return ((uu, int(assign[vv])), (vv, int(assign[uu])))


def repair_overflow(assign, movable, frozen, w, dem, cap, loads, tol) -> int:
    """Level 3: move units out of over-capacity experts, in place.

    Args:
        assign (np.ndarray): Expert per unit, shape (U,), updated in place.
        movable (np.ndarray): Bool (U,), rows tried first.
        frozen (np.ndarray): Bool (U,), rows never moved (pinned).
        w (np.ndarray): Affinity, shape (U, E).
        dem (np.ndarray): Demand, shape (U,).
        cap (np.ndarray): Capacity, shape (E,).
        loads (np.ndarray): Load per expert, shape (E,), updated in place.
        tol (float): Capacity slack, relative to the largest demand.

    Returns:
        int: Number of units moved.
    """
    moves = 0
    slack = tol * max(dem.max(), 1.0)
    while True:
        over = loads - cap
        if np.all(over <= slack):
            return moves
        room = cap - loads
        chosen = None
        for allowed in (movable, ~frozen):
            rows = np.flatnonzero(allowed & (over[assign] > slack))
            if rows.size:
                chosen = (_best_move(rows, assign, w, dem, room, over, slack)
                          or _best_swap(rows, np.flatnonzero(allowed), assign, w, dem, room,
                                        over, slack))
            if chosen:
                break
        if not chosen:
            e = int(np.argmax(over))
            raise RoundingError(
                f'Could not compile a capacity-respecting mapping: expert {e} carries load '
                f'{loads[e]:.6g} > capacity {cap[e]:.6g} and no unit on it can move or swap '
                f'to another expert (remaining room {np.round(room, 6).tolist()}). Raise the '
                'capacities, split large datasets into class groups, or relax min_share.')
        for u, t in chosen:
            loads[assign[u]] -= dem[u]
            loads[t] += dem[u]
            assign[u] = t
        moves += len(chosen)


def improve_mapping(assign, movable, w, dem, cap, loads, tol) -> None:
    """Level 4: value-raising single moves, then exchanges, of ``movable`` rows.

    Same arguments as :func:`repair_overflow` (without ``frozen``); ``assign``
    and ``loads`` are updated in place and stay within capacity.
    """
    slack = tol * max(dem.max(), 1.0)
    rows = np.flatnonzero(movable)
    if rows.size == 0:
        return
    # Every step raises the value strictly; the bound only guards the loop.
    for _ in range(rows.size * cap.size + 1):
        # Best single move of any rounded row to an expert where it fits.
        room = cap - loads
        fits = dem[rows, None] <= room[None, :] + slack
        gain = np.where(fits, w[rows] - w[rows, assign[rows]][:, None], -np.inf)
        r, t = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[r, t] > 1e-12:
            u = rows[r]
        else:
            # Best exchange of two rounded rows on different experts.
            u, v = rows[:, None], rows[None, :]
            a, b = assign[u], assign[v]
            delta = dem[u] - dem[v]  # load moving from a to b
            ok = (a != b) & (delta <= room[b] + slack) & (-delta <= room[a] + slack)
            gain = np.where(ok, w[u, b] + w[v, a] - w[u, a] - w[v, b], -np.inf)
            r, c = np.unravel_index(int(np.argmax(gain)), gain.shape)
            if not gain[r, c] > 1e-12:
                return
            u, t, v = rows[r], assign[rows[c]], rows[c]
            loads[assign[v]] += dem[u] - dem[v]
            loads[assign[u]] -= dem[u] - dem[v]
            assign[v] = assign[u]
            assign[u] = t
            continue
        loads[assign[u]] -= dem[u]
        loads[t] += dem[u]
        assign[u] = t
