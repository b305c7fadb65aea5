"""Memory of card lending's sources on a city, one sampler (issue 12): where its peak comes from.

    .venv/bin/python bench/profile_card_lending_memory.py W/city1m W/staged

Validates the city (staged under the second argument), runs the face stage, builds the visit frame
and face links, then fits :class:`CardLendingDetector` with each source (faces, history, co-timing,
cohort) wrapped: a thread samples ``VmRSS`` every 50 ms and keeps the highest value per phase.
Prints each phase's time and resident memory at its end, then the peak per phase. Figures (1M city,
2026-12-07) in bench/RESULTS.md. Not a test.
"""
import sys, time, threading
from ringscope.ingest.reader import read_dataset
from ringscope.graph.engine import Engine
from ringscope.graph.context import Context
from ringscope.graph.partition import n_buckets
from ringscope.models.detectors.face_match import FaceMatchDetector
from ringscope.models.detectors.card_lending import CardLendingDetector
from ringscope.pipeline.run import _publish
from ringscope.graph import projection as P
import ringscope.models.detectors.card_lending as CL
from ringscope.progress import rss_mb
label = ["start"]; peaks = {}
def sample():
    while True:
        r = rss_mb(); k = label[0]
        peaks[k] = max(peaks.get(k, 0), r)
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
def wrap(obj, name):
    f = getattr(obj, name)
    def g(*a, **k):
        prev = label[0]; label[0] = name; t = time.time()
        try: return f(*a, **k)
        finally:
            print(f"{name}: {time.time()-t:.1f}s end-rss {rss_mb()/1024:.2f} GiB", flush=True); label[0] = prev
    setattr(obj, name, g)
ds = read_dataset(sys.argv[1], work_dir=sys.argv[2])
eng = Engine.over_dataset(ds, memory_limit="4GB")
ctx = Context(tables=ds.tables, engine=eng)
ctx.cache["partitions"] = n_buckets(ctx, 1_000_000)
label[0] = "faces"
det = FaceMatchDetector().fit(ctx); _publish(det, ctx, {})
print("after faces rss", rss_mb()/1024, flush=True)
for n in ("_face_groups", "_history_groups", "_cotime_groups", "_cohort_groups"):
    wrap(CardLendingDetector, n)
label[0] = "visit_frame"; t=time.time(); P.visit_frame(ctx); print("visit_frame", time.time()-t, rss_mb()/1024, flush=True)
label[0] = "face_links"; t=time.time(); P.face_links(ctx); print("face_links", time.time()-t, rss_mb()/1024, flush=True)
label[0] = "card_lending"
CardLendingDetector().fit(ctx)
print("after card lending", rss_mb()/1024)
for k, v in peaks.items(): print(f"peak {k:16s} {v/1024:.2f} GiB")
