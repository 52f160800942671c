-- bench/peers.py's request for wrk: POST the body in a file, with its content type and, for the
-- binary tensor extension, the JSON header's length.
-- wrk -s post.lua URL -- BODY_FILE CONTENT_TYPE [INFERENCE_HEADER_CONTENT_LENGTH]
function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = args[2]
  if args[3] then
    wrk.headers["Inference-Header-Content-Length"] = args[3]
  end
end
