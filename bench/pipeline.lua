-- pipeline.lua — wrk script for HTTP/1.1 pipelining: each write carries
-- DEPTH copies of the request (env PIPELINE_DEPTH, default 16) and wrk
-- counts every response, so requests/s counts requests, not batches; the
-- latency of each response runs from the write of its whole batch.
--
-- Usage: wrk -s bench/pipeline.lua http://127.0.0.1:8080/plaintext

local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "16")
local batch

function init(args)
    local reqs = {}
    for i = 1, depth do
        reqs[i] = wrk.format() -- wrk's method, path and headers, from the URL and flags
    end
    batch = table.concat(reqs)
end

function request()
    return batch
end
