"""A Flask app: GET / says which user serves it."""

import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return f"hello from uid {os.geteuid()}\n"
