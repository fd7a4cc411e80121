"""Dependencies: the running components, a database session, and who is writing."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from sitewatch.runtime import Components


def get_components(request: Request) -> Components:
    return request.app.state.components


ComponentsDep = Annotated[Components, Depends(get_components)]


def get_session(parts: ComponentsDep) -> Iterator[Session]:
    with parts.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False)


def require_writer(
    parts: ComponentsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """No anonymous writes: a bearer token whose SHA-256 is in the config; returns its name."""
    if credentials is not None:
        digest = hashlib.sha256(credentials.credentials.encode()).hexdigest()
        for token in parts.config.api.tokens:
            if hmac.compare_digest(digest, token.sha256):
                return token.name
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="a valid bearer token is required to change anything",
        headers={"WWW-Authenticate": "Bearer"},
    )


WriterDep = Annotated[str, Depends(require_writer)]
