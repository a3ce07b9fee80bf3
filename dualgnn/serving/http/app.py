"""The HTTP layer of ``dualgnn serve`` (FastAPI; OpenAPI docs at ``/docs``). It only translates: requests are
validated here (pydantic, 422 when malformed) and answered by :class:`~dualgnn.serving.http.service.Service`.

Every list answer names the model that produced it, in its ``model`` field and the ``X-DualGNN-Model`` header.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from dualgnn.errors import DualGNNError
from dualgnn.serving.http import snapshot
from dualgnn.serving.http.service import NotReadyError, Service
from dualgnn.serving.http.snapshot import ConflictError, UnknownProductsError

MAX_K = 1000
MAX_BATCH = 1000           # ids per batch request
MAX_RESULTS = 100_000      # ids x k per request: bounds the answer's size
MAX_NEW_PRODUCTS = 100     # cold-start products per request
MAX_BODY = 1 << 20         # bytes of a request body; PUT /admin/in-stock may send MAX_STOCK_BODY
MAX_STOCK_BODY = 256 << 20
MODEL_HEADER = "X-DualGNN-Model"

ProductId = Annotated[str, Field(min_length=1, max_length=256)]
Text = Annotated[str, Field(max_length=20_000)]


class ListOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1, le=MAX_K, description="Recommendations per product.")
    exclude_same_category: bool = Field(False, description="Never a product of the query's own category path.")
    exclude_linked: bool = Field(False, description="Never what the graph already links to the query.")
    in_stock_only: bool = Field(False, description="Only products of the in-stock list.")
    explain: bool = Field(False, description="Add the strongest supporting graph path (or 'metadata') per item.")

    def query(self) -> snapshot.Query:
        return snapshot.Query(**self.model_dump(exclude={"product_ids", "products"}))


class BatchRequest(ListOptions):
    product_ids: list[ProductId] = Field(min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _bounded(self):
        if len(self.product_ids) * self.k > MAX_RESULTS:
            raise ValueError(f"product_ids x k may be at most {MAX_RESULTS:,}")
        return self


class NewProduct(BaseModel):
    """A product's metadata, the fields of the products table."""

    model_config = ConfigDict(extra="forbid")
    product_id: ProductId
    title: Text | None = None
    description: Text | None = None
    category: Text | Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=50)] | None = Field(
        None, description="A path joined by ' > ', or its levels.")
    brand: Annotated[str, Field(max_length=500)] | None = None
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class ColdStartRequest(ListOptions):
    products: list[NewProduct] = Field(min_length=1, max_length=MAX_NEW_PRODUCTS)


class Recommendation(BaseModel):
    product_id: str
    title: str
    score: float
    reason: str | None = None


class ProductList(BaseModel):
    product_id: str
    title: str
    recommendations: list[Recommendation]
    model: str | None = None


class Lists(BaseModel):
    results: list[ProductList]
    model: str


async def query_options(k: Annotated[int, Query(ge=1, le=MAX_K)] = 10, exclude_same_category: bool = False,
                        exclude_linked: bool = False, in_stock_only: bool = False,
                        explain: bool = False) -> snapshot.Query:
    # async: FastAPI runs a plain-function dependency in the thread pool, a hop per request for nothing.
    return snapshot.Query(k=k, exclude_same_category=exclude_same_category, exclude_linked=exclude_linked,
                          in_stock_only=in_stock_only, explain=explain)


Options = Annotated[snapshot.Query, Depends(query_options)]


def build_app(service: Service) -> FastAPI:
    """The FastAPI app over ``service``. The single-product lists run on the event loop (a fraction of a
    millisecond: a thread-pool hop would cost more); everything that may take longer (batches, cold start,
    reloads, in-stock lists) is a plain function, run in the worker thread pool, so it never holds up the loop."""
    app = FastAPI(title="dualgnn", version="1", description="Directed 'customers also bought' lists from a "
                  "dual-embedding GNN: related (source . target), similar (source . source), cold start.")
    app.add_middleware(BodyLimit)

    def answer(snap, content: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(content, status, headers={MODEL_HEADER: snap.info["model_id"]})

    def lists(snap, results: list[dict], one: bool) -> JSONResponse:
        model = snap.info["model_id"]
        return answer(snap, {**results[0], "model": model} if one else {"results": results, "model": model})

    @app.get("/health", tags=["state"], summary="The process is alive")
    async def health():
        return {"status": "alive"}

    @app.get("/ready", tags=["state"], summary="A model is loaded (503 before)")
    async def ready():
        if not service.ready:
            return JSONResponse({"status": "loading" if service.error is None else "failed",
                                 "detail": str(service.error or "the model is still loading")}, 503)
        return {"status": "ready", "model": service.snapshot.info["model_id"]}

    @app.get("/v1/model", tags=["state"], summary="Which model is served")
    def model():
        return answer(service.snapshot, service.model())

    @app.get("/v1/related/{product_id:path}", response_model=ProductList, tags=["lists"],
             summary="Customers also bought: source . target")
    async def related(product_id: str, options: Options):
        snap = service.snapshot
        if snap.rec.ranker is not None:  # milliseconds of sparse rows and trees: off the event loop
            return lists(snap, await run_in_threadpool(snap.related, [product_id], options), one=True)
        return lists(snap, snap.related([product_id], options), one=True)

    @app.post("/v1/related", response_model=Lists, tags=["lists"], summary="Related lists for many products")
    def related_batch(body: BatchRequest):
        snap = service.snapshot
        return lists(snap, snap.related(body.product_ids, body.query()), one=False)

    @app.get("/v1/similar/{product_id:path}", response_model=ProductList, tags=["lists"],
             summary="Similar products: source . source")
    async def similar(product_id: str, options: Options):
        snap = service.snapshot
        return lists(snap, snap.related([product_id], options, similar=True), one=True)

    @app.post("/v1/cold-start", response_model=Lists, tags=["lists"],
              summary="Lists for new products from their metadata (they are not added to the catalog)")
    def cold_start(body: ColdStartRequest):
        snap = service.snapshot
        return lists(snap, snap.cold_start([p.model_dump() for p in body.products], body.query()), one=False)

    @app.post("/admin/reload", tags=["admin"], summary="Load the model directory again and swap it in")
    def reload():
        outcome = service.reload()
        return JSONResponse({**outcome, "serving": service.snapshot.info["model_id"]}, 200 if outcome["ok"] else 500)

    @app.put("/admin/in-stock", tags=["admin"], summary="Replace the in-stock list (a JSON list of ids)")
    def put_in_stock(ids: Annotated[list[ProductId], Body(min_length=1, max_length=50_000_000)]):
        return service.set_in_stock(ids)

    @app.delete("/admin/in-stock", tags=["admin"], summary="Forget the in-stock list")
    def delete_in_stock():
        return service.set_in_stock(None)

    for error, status in ((UnknownProductsError, 404), (NotReadyError, 503), (ConflictError, 409),
                          (DualGNNError, 422)):
        app.add_exception_handler(error, _handler(status))
    return app


def _handler(status: int):
    def handle(request: Request, exc: DualGNNError) -> JSONResponse:  # noqa: ARG001 - handler signature
        body = {"detail": exc.message, "hint": exc.hint}
        if isinstance(exc, UnknownProductsError):
            body["unknown_ids"] = exc.product_ids
        return JSONResponse(body, status)
    return handle


class BodyLimit:
    """ASGI middleware: 413 for a request body over :data:`MAX_BODY` (in-stock lists: :data:`MAX_STOCK_BODY`),
    checked on the declared length and again while reading, so no client can make the server hold a huge body."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = MAX_STOCK_BODY if scope["path"] == "/admin/in-stock" else MAX_BODY
        too_large = f"the request body is larger than {limit:,} bytes"
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            return await JSONResponse({"detail": too_large}, 413)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # a chunked body without a length; FastAPI answers an HTTPException as it is
                raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)
