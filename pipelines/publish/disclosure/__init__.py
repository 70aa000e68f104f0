"""Disclosure control at publish: the outsider's attack on `reporting` (solver.py, relations.py)
and the gate that runs it on every build before it is swapped in (gate.py)."""
