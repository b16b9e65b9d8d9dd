-- wrk -s bench/post.lua: every request is a POST of the `work` document
-- (bench/work.json, or the file named by $WORK_BODY). wrk adds the
-- Content-Length.
local path = os.getenv("WORK_BODY") or "bench/work.json"
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
