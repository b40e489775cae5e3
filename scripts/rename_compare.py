"""One-off: the pipeline's generator is compare_steps (spotdiff.compare is the one-call API)."""
import re
import sys

for p in sys.argv[1:]:
    s = open(p).read()
    if not re.search(r"from (spotdiff\.pipeline|\.\.?pipeline|\.\.\.pipeline) import [^\n]*\bcompare\b", s) \
            :
        continue
    s = re.sub(r"(from (?:spotdiff\.pipeline|\.\.?pipeline|\.\.\.pipeline) import [^\n]*?)\bcompare\b(?!_)", r"\1compare_steps", s)
    s = re.sub(r"(?<![\w.])compare\(", "compare_steps(", s)
    open(p, "w").write(s)
    print("renamed in", p)
