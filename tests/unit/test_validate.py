"""Signature validation against bindings gives the Python worker's messages."""

from __future__ import annotations

import typing

import azure.functions as func
import pytest

from funchost.errors import FunctionLoadError
from funchost.indexing.spec import BindingSpec
from funchost.indexing.validate import plan_parameters

HTTP_IN = BindingSpec("req", "httpTrigger", "in")
HTTP_OUT = BindingSpec("$return", "http", "out")
QUEUE_OUT = BindingSpec("msg", "queue", "out")


def _error(fn: typing.Callable[..., typing.Any], *bindings: BindingSpec) -> str:
    with pytest.raises(FunctionLoadError) as info:
        plan_parameters("Fn", fn, bindings)
    return str(info.value)


def test_python_parameter_missing_from_function_json() -> None:
    def main(req, extra):  # type: ignore[no-untyped-def]
        pass

    assert _error(main, HTTP_IN, HTTP_OUT) == (
        "cannot load the Fn function: the following parameters are declared in Python but not "
        "in function.json: {'extra'}"
    )


def test_binding_missing_from_python() -> None:
    def main(req):  # type: ignore[no-untyped-def]
        pass

    assert _error(main, HTTP_IN, QUEUE_OUT, HTTP_OUT) == (
        "cannot load the Fn function: the following parameters are declared in function.json "
        "but not in Python: {'msg'}"
    )


def test_inout_bindings_are_not_supported() -> None:
    def main(req, blob):  # type: ignore[no-untyped-def]
        pass

    message = _error(main, HTTP_IN, BindingSpec("blob", "blob", "inout"))
    assert message == 'cannot load the Fn function: "inout" bindings are not supported'


def test_return_binding_must_be_out() -> None:
    def main(req):  # type: ignore[no-untyped-def]
        pass

    message = _error(main, HTTP_IN, BindingSpec("$return", "http", "in"))
    assert (
        message == 'cannot load the Fn function: "$return" binding must have direction set to "out"'
    )


def test_out_binding_needs_out_annotation() -> None:
    def main(req: func.HttpRequest, msg: str) -> None:
        pass

    assert _error(main, HTTP_IN, QUEUE_OUT) == (
        'cannot load the Fn function: binding msg is declared to have the "out" direction, but '
        "its annotation in Python is not a subclass of azure.functions.Out"
    )


def test_in_binding_with_out_annotation() -> None:
    def main(req: func.Out[func.HttpRequest]) -> None:
        pass

    assert _error(main, HTTP_IN) == (
        'cannot load the Fn function: binding req is declared to have the "in" direction in '
        "function.json, but its annotation is azure.functions.Out in Python"
    )


def test_annotation_that_does_not_match_the_binding_type() -> None:
    def main(req: func.QueueMessage) -> None:
        pass

    assert _error(main, HTTP_IN) == (
        'cannot load the Fn function: type of req binding in function.json "httpTrigger" does '
        'not match its Python annotation "QueueMessage"'
    )


def test_annotation_mismatch_with_data_type_names_it() -> None:
    def main(req: func.HttpRequest, doc: func.QueueMessage) -> None:
        pass

    message = _error(main, HTTP_IN, BindingSpec("doc", "blob", "in", data_type="binary"))
    assert message == (
        'cannot load the Fn function: \'doc\' binding type "blob" and dataType "binary" in '
        "function.json do not match the corresponding function parameter's Python type "
        'annotation "QueueMessage"'
    )


def test_return_annotation_must_not_be_out() -> None:
    def main(req: func.HttpRequest) -> func.Out[str]:
        raise NotImplementedError

    assert _error(main, HTTP_IN, HTTP_OUT) == (
        "cannot load the Fn function: return annotation should not be azure.functions.Out"
    )


def test_return_annotation_must_match_the_binding() -> None:
    def main(req: func.HttpRequest) -> func.QueueMessage:
        raise NotImplementedError

    assert _error(main, HTTP_IN, HTTP_OUT) == (
        'cannot load the Fn function: Python return annotation "QueueMessage" does not match '
        'binding type "http"'
    )


def test_context_annotation_must_be_context() -> None:
    def main(req: func.HttpRequest, context: str) -> None:
        pass

    assert _error(main, HTTP_IN) == (
        'cannot load the Fn function: the "context" parameter is expected to be of type '
        "azure.functions.Context, got <class 'str'>"
    )


def test_a_valid_signature_is_planned() -> None:
    def main(req: func.HttpRequest, msg: func.Out[str], context: func.Context) -> str:
        return ""

    params, ret, needs_context = plan_parameters("Fn", main, (HTTP_IN, QUEUE_OUT, HTTP_OUT))
    assert [(p.name, p.converter_name, p.pytype, p.is_out) for p in params] == [
        ("req", "httpTrigger", func.HttpRequest, False),
        ("msg", "generic", str, True),
    ]
    assert ret is not None and ret.converter_name == "http" and ret.pytype is str
    assert needs_context


def test_str_and_bytes_annotations_use_the_generic_converter() -> None:
    def main(req: func.HttpRequest, data: bytes) -> None:
        pass

    params, _, _ = plan_parameters("Fn", main, (HTTP_IN, BindingSpec("data", "blob", "in")))
    assert params[1].converter_name == "generic"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"authLevel": "public"},
            "F/function.json: authLevel 'public' is not one of anonymous, function, admin",
        ),
        ({"methods": "get"}, "F/function.json: methods must be a list of HTTP methods like"),
        (
            {"methods": ["get", "fetch"]},
            "F/function.json: methods must be a list of HTTP methods like",
        ),
        ({"route": "a/{*rest}/b"}, "F/function.json: invalid route template 'a/{*rest}/b'"),
    ],
)
def test_http_trigger_settings_are_checked_at_load(extra: dict[str, object], message: str) -> None:
    from funchost.indexing.common import check_http_trigger

    trigger = BindingSpec("req", "httpTrigger", "in", raw={"name": "req", **extra})
    with pytest.raises(FunctionLoadError) as info:
        check_http_trigger((trigger, HTTP_OUT), "F", "F/function.json")
    assert str(info.value).startswith(message)
