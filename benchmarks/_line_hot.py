"""The function `line_workload.py` times line by line, in a module so that both
`kernprof -l -p _line_hot.hot` and `profwork -m line --function _line_hot.py:hot` reach it."""

from __future__ import annotations


def hot(rounds: int) -> int:
    total = 0
    for r in range(rounds):
        squares = [i * i for i in range(200)]
        total += sum(squares) % 7
        if r % 3 == 0:
            total += len(str(total))
    return total
