-- timed: appended to walk.lua for threads of one connection each, where
-- an answer is to the last request sent. Each thread times its requests
-- itself, from request() to response(), into rawhist (microseconds to
-- counts), which common.lua's done() prints as LKRAW: the latencies as
-- the requests had them. wrk's own percentiles are corrected for
-- coordinated omission, with the mean time between requests as the
-- expected interval, so that on one connection a request k times slower
-- than the mean also counts as k−1 more requests; those are LKBENCH's.
-- Having response() costs wrk a few microseconds a request.

function response(status, headers, body)
  if sent then
    local us = math.floor(now_us() - sent)
    rawhist[us] = (rawhist[us] or 0) + 1
    sent = nil
  end
end
