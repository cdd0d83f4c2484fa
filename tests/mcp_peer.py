"""A real MCP peer for the tests: the official SDK's own server (``mcp`` 2.x's MCPServer) over Streamable
HTTP on 127.0.0.1, answering as an SSE stream or as JSON. Its tools answer with every content type, fail,
run slowly; its tool list is paged (the SDK's server does not page by itself: its handler is replaced)."""

import socket
import threading
import time

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.utilities.types import Audio, Image
from mcp.types import ListToolsResult, ResourceLink

PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24)
PAGE = 2  # tools a page of tools/list


class PagedServer(MCPServer):
    async def _handle_list_tools(self, ctx, params):
        tools = await self.list_tools()
        start = int(params.cursor) if params is not None and params.cursor else 0
        more = str(start + PAGE) if start + PAGE < len(tools) else None
        return ListToolsResult(tools=tools[start : start + PAGE], next_cursor=more)


def peer() -> MCPServer:
    server = PagedServer("peer")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def draw(subject: str) -> Image:
        """Draw the subject."""
        return Image(data=PNG, format="png")

    @server.tool()
    def hum() -> Audio:
        """Hum a tune."""
        return Audio(data=WAV, format="wav")

    @server.tool()
    def find(query: str) -> ResourceLink:
        """Find a model card."""
        return ResourceLink(type="resource_link", name="openai/whisper-large-v3", uri="https://hf.co/x")

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ValueError("no luck")

    @server.tool()
    def nap(seconds: float) -> str:
        """Sleep, then say so."""
        time.sleep(seconds)
        return "awake"

    return server


class Running:
    def __init__(self, json_response: bool):
        app = peer().streamable_http_app(json_response=json_response)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
        threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not self.server.started:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
