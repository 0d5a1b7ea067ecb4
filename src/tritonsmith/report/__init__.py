"""Reports over finished benches: suite metrics (metrics.py), two benches side by side (compare.py),
and one self-contained HTML page (html.py, with plots.py, trajectory.py, text.py, format.py,
run_files.py and assets.py).

Reports read TaskRecords from a bench folder's results store; they never re-measure anything.
"""
