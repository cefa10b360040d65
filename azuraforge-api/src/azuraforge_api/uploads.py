"""Bodies with files: multipart forms read with the standard library's MIME parser (a prediction's image, an
uploaded dataset), and a prediction's body as the JSON the model server takes."""

import base64
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from fastapi import HTTPException, Request, status

from azuraforge_learner.serving import MAX_IMAGE_BYTES

IMAGE_FIELD = "image"


async def prediction_input(request: Request) -> dict[str, Any]:
    """The JSON object of the body, or {"image": <base64>} from a form's `image` file; 422 saying what is wrong."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return {IMAGE_FIELD: base64.b64encode(_uploaded_image(content_type, body)).decode("ascii")}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise _invalid("the body is not JSON; send a JSON object, or an image as multipart field 'image'") from None
    if not isinstance(payload, dict):
        raise _invalid("the body must be a JSON object (see the version's input_schema)")
    return payload


def form_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (file name or None, bytes); 422 if it is not a form."""
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise _invalid("the form could not be read; send multipart/form-data")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(data, bytes):
            fields[name] = (part.get_filename(), data)
    return fields


def _uploaded_image(content_type: str, body: bytes) -> bytes:
    field = form_fields(content_type, body).get(IMAGE_FIELD)
    if field is None:
        raise _invalid("the form has no 'image' field; attach the PNG or JPEG file as field 'image'")
    data = field[1]
    if not data:
        raise _invalid("the form's 'image' field is empty; attach a PNG or JPEG file")
    if len(data) > MAX_IMAGE_BYTES:
        raise _invalid(f"the image file is {len(data)} bytes, over the limit of {MAX_IMAGE_BYTES // (1024 * 1024)} MiB")
    return data


def _invalid(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
