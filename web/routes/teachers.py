"""Teacher accounts, created by an admin."""

from __future__ import annotations

from quart import Blueprint, Response, g
from quart_schema import document_request, document_response

from exchange.passwords import hash_password
from exchange.users import NewUser
from web.admin import admin_only
from web.body import BodyDecoder
from web.classwire import TeacherRequest, TeacherResponse
from web.errors import invalid
from web.openapi import documented
from web.reply import json_response
from web.state import app_state
from web.validation import Rules

blueprint = Blueprint("teachers", __name__, url_prefix="/api/v1/admin/teachers")

_teacher_body = BodyDecoder(TeacherRequest)


@blueprint.post("")
@document_request(TeacherRequest)
@document_response(TeacherResponse, 201)
@documented(busy=True, errors={409: ("username_taken", "email_taken")})
@admin_only
async def create_teacher() -> Response:
    """Create a teacher account (same field rules as registration)."""
    body = await _teacher_body.read()
    rules = Rules()
    username, email, password, first_name, last_name = rules.identity(
        body.username, body.email, body.password, body.first_name, body.last_name
    )
    if rules.errors:
        raise invalid(rules.errors)
    state = app_state()
    password_hash = await state.hash_off_loop(hash_password, password, state.settings.scrypt_n)
    teacher = NewUser(username, email, password_hash, first_name, last_name, role="teacher")
    await state.exchange.register(teacher)
    await state.exchange.audit("register", username, g.client_ip, "teacher")
    return json_response(TeacherResponse(username, "teacher"), 201)
