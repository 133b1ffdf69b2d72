-- wrk script: GET (or another method) of one manifest with the six separate
-- Accept lines dockerd sends, on keep-alive connections.
--   wrk ... -s manifest.lua URL -- HOST[:PORT] PATH [METHOD]
-- done() prints one machine-readable line, "BENCH k=v ...", for bench.sh.
-- Note: Debian's wrk 4.1.0 never completes a HEAD (it waits for a body),
-- so bench.sh measures HEAD with curl, not with this script.
local req

function init(args)
	local host = args[1] or wrk.headers["Host"] or wrk.host
	local path = args[2] or wrk.path
	local method = args[3] or "GET"
	req = method .. " " .. path .. " HTTP/1.1\r\n" ..
		"Host: " .. host .. "\r\n" ..
		"User-Agent: docker/24.0.7 go/go1.20.10 (dctproxy bench)\r\n" ..
		"Accept: application/vnd.docker.distribution.manifest.v2+json\r\n" ..
		"Accept: application/vnd.docker.distribution.manifest.list.v2+json\r\n" ..
		"Accept: application/vnd.oci.image.index.v1+json\r\n" ..
		"Accept: application/vnd.oci.image.manifest.v1+json\r\n" ..
		"Accept: application/vnd.docker.distribution.manifest.v1+prettyjws\r\n" ..
		"Accept: application/json\r\n" ..
		"Accept-Encoding: gzip\r\n" ..
		"\r\n"
end

function request()
	return req
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"BENCH requests=%d duration_us=%d bytes=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d " ..
		"err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d\n",
		summary.requests, summary.duration, summary.bytes,
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99), latency.max,
		e.connect, e.read, e.write, e.timeout, e.status))
end
