"""Reports over finished benches: suite metrics (metrics.py), two benches side by side (compare.py).

Reports read TaskRecords from a bench folder's results store; they never re-measure anything.
"""
