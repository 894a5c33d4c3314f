-- wrk.lua - the request script of bench/run.sh for wrk (one thread, -t1).
-- Adds the bearer token, method and body, optionally walks a file of paths
-- (one request per line, each used once: the trigger benchmark), stops after
-- BENCH_MAX answers (count bound; -d is the time bound) and prints one
-- machine-readable "BENCHJSON {...}" line with counts and latency in microseconds.
--
-- Environment: BENCH_TOKEN (bearer token, optional), BENCH_METHOD (default GET),
-- BENCH_BODY_FILE (request body, sent with Content-Type: application/json),
-- BENCH_PATHS_FILE (paths, one a line; the URL's path is used when unset),
-- BENCH_MAX (stop after this many answers; 0 = only the time bound),
-- BENCH_STOP_AT_MAX=1 (at the count bound, end wrk at once instead of waiting out -d).
-- wrk's own duration is always the full -d, also when the count bound stopped the
-- thread early, so the active time (first request to last answer) is measured
-- here with clock_gettime through LuaJIT's FFI and reported as "active_us". With
-- BENCH_STOP_AT_MAX the script sends wrk its own SIGINT, which (like Ctrl-C) cuts
-- the -d wait short; wrk still prints its summary and runs done().

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
int kill(int pid, int sig);
int getpid(void);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
	ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
	return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local token = os.getenv("BENCH_TOKEN") or ""
local method = os.getenv("BENCH_METHOD") or "GET"
local body_file = os.getenv("BENCH_BODY_FILE") or ""
local paths_file = os.getenv("BENCH_PATHS_FILE") or ""
local max_answers = tonumber(os.getenv("BENCH_MAX") or "0") or 0
local stop_at_max = os.getenv("BENCH_STOP_AT_MAX") == "1"

local body = nil
local paths = nil
local next_path = 1
local answered = 0
local headers = {}
t_first = 0   -- globals, read by done() through thread:get()
t_last = 0

if token ~= "" then
	headers["Authorization"] = "Bearer " .. token
end
if body_file ~= "" then
	local f = assert(io.open(body_file, "rb"))
	body = f:read("*a")
	f:close()
	headers["Content-Type"] = "application/json"
elseif method ~= "GET" and method ~= "HEAD" then
	body = ""   -- wrk.format then sends "Content-Length: 0" (lighttpd answers 411 without it)
end
if paths_file ~= "" then
	paths = {}
	for line in io.lines(paths_file) do
		if line ~= "" then
			paths[#paths + 1] = line
		end
	end
	assert(#paths > 0, "no paths in " .. paths_file)
end

-- A path file is used once; never send more requests than it has lines
-- (the count bound must then be below its length, see run.sh).
request = function()
	local path = wrk.path
	if t_first == 0 then
		t_first = now_us()
	end
	if paths then
		path = paths[next_path]
		if next_path < #paths then
			next_path = next_path + 1
		end
	end
	return wrk.format(method, path, headers, body)
end

response = function(status, hdrs, resp_body)
	answered = answered + 1
	t_last = now_us()
	if max_answers > 0 and answered >= max_answers then
		wrk.thread:stop()
		if stop_at_max and answered == max_answers then
			ffi.C.kill(ffi.C.getpid(), 2)   -- SIGINT: wrk's main thread stops sleeping
		end
	end
end

local threads = {}
setup = function(thread)
	threads[#threads + 1] = thread
end

done = function(summary, latency, requests)
	local e = summary.errors
	local first, last = nil, nil
	for _, t in ipairs(threads) do
		local f, l = t:get("t_first"), t:get("t_last")
		if f and f > 0 and (not first or f < first) then first = f end
		if l and l > 0 and (not last or l > last) then last = l end
	end
	local active = 0
	if first and last then active = last - first end
	io.write(string.format(
		'BENCHJSON {"requests": %d, "duration_us": %d, "active_us": %d, "bytes": %d, ' ..
		'"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, ' ..
		'"err_timeout": %d, "lat_mean_us": %.1f, "lat_p50_us": %d, "lat_p90_us": %d, ' ..
		'"lat_p99_us": %d, "lat_max_us": %d}\n',
		summary.requests, summary.duration, active, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency.mean, latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.max))
end
