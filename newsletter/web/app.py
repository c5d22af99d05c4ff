"""``newsletter serve``: the small public service every message links to (Flask, served by waitress).

- ``/u/TOKEN``: one-click unsubscribe. ``POST`` (RFC 8058: what Gmail sends, body
  ``List-Unsubscribe=One-Click``) unsubscribes at once, without cookies or redirects; ``GET``
  (a person's click, or a link scanner) only shows a page with one button, and changes nothing.
- ``/subscribe``: double opt-in. The form records the request and queues a confirmation mail
  (sent by a background thread, see :mod:`newsletter.web.mailer`); only ``POST /confirm/TOKEN``
  makes the address active. The answer, and the work done before it, are the same whether the
  address was known or not. CSRF token, honeypot field, rate limit per client address, mails
  limited per address and per unsubscribe link, first names short and without links.
- ``/archive/``, ``/archive/DATE/``, ``/feed.xml``: the sent issues, written for the public;
  ``/archive/DATE/?cle=KEY`` opens an unsent issue for proofreaders (test copies link there).
- ``/assets/DATE/HASH.png``: an issue's images under the hash of their bytes, from the moment
  the issue exists; never a link, never anything but a PNG, JPEG or GIF inside the issue folder.
- ``/healthz``: for the operator's monitoring.

Tokens are opaque (encrypted and authenticated with ``NEWSLETTER_SECRET_KEY``, see
:mod:`newsletter.tokens`) and bound to their purpose; confirmation tokens expire. An unsubscribe
is acknowledged only once committed; a database that fails gets a 503 page. Forwarded headers
are believed only from ``[web] trusted_proxies`` proxies; links come from ``base_url``. Pages
are Jinja2 templates with autoescaping; every error is a page, never a traceback. The service
binds 127.0.0.1 by default and expects a reverse proxy at ``base_url``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from flask import Flask, Response, abort, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from newsletter.addresses import canonical
from newsletter.audience.fields import CONTROL
from newsletter.config import Settings
from newsletter.content.load import issue_folder
from newsletter.errors import NewsletterError, StoreError
from newsletter.notify import send_notice
from newsletter.publication import PROOF_PARAM, Image, ImageIndex, UnsafeFileError, is_proof_key, read_image
from newsletter.store.database import Store
from newsletter.store.models import SubscriberStatus
from newsletter.store.subscribers import (confirm_subscription, find_subscriber, request_subscription,
                                          unsubscribe)
from newsletter.tokens import CONFIRM, UNSUBSCRIBE, make_timed_token, read_timed_token, read_token
from newsletter.web.archive import WebVersions, atom_feed, published
from newsletter.web.mailer import MailQueue, RateGate
from newsletter.web.webhooks import webhooks_blueprint

log = logging.getLogger(__name__)

RESUBSCRIBE = "resubscribe"
RESUBSCRIBE_SECONDS = 30 * 60  # how long the "I changed my mind" button works after unsubscribing
_HASHED = re.compile(r"[0-9a-f]{32}\.(?:png|jpg|gif)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FIRST_NAME = 40
#: What a first name may not hold besides control characters (the name rules' CONTROL): links,
#: addresses, zero-width and bidirectional characters.
_NOT_A_NAME = re.compile(r"://|www\.|@|[\u200b-\u200f\u202a-\u202e\u2066-\u2069]", re.I)

Clock = Callable[[], datetime]


def mask(address: str) -> str:
    """``c*****e@example.org``: enough for a person to recognise their address, not to read it."""
    local, _, domain = address.partition("@")
    shown = local[0] + "*" * max(1, len(local) - 2) + local[-1] if len(local) > 2 else local[:1] + "*"
    return f"{shown}@{domain}"


def first_name_problem(name: str) -> str:
    """Why the form's ``name`` (as typed) cannot be a first name ("" when it can)."""
    if _NOT_A_NAME.search(name) or CONTROL.search(name):
        return "Le prénom ne peut contenir ni lien, ni adresse, ni caractère de contrôle."
    if len(name.strip()) > MAX_FIRST_NAME:
        return f"Le prénom doit faire au plus {MAX_FIRST_NAME} caractères."
    return ""


class _BasePath:
    """Serve under the path of ``base_url`` (``/lettre``) whatever headers a client sends."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["SCRIPT_NAME"] = self.prefix
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["PATH_INFO"] = path[len(self.prefix):]  # a proxy that forwards the prefix as is
        return self.app(environ, start_response)


def create_app(settings: Settings, store: Store, secret_key: str, *, environ: Mapping[str, str] | None = None,
               clock: Clock | None = None, mail_queue: MailQueue | None = None) -> Flask:
    """The WSGI application. ``environ`` holds the transport's secrets (default: the process environment).

    :param mail_queue: where confirmation mails wait for the background thread (tests pass one not started).
    """
    now: Clock = clock or (lambda: datetime.now(timezone.utc))
    nl = settings.newsletter
    app = Flask(__name__, template_folder=str(Path(__file__).with_name("templates")))
    app.config.update(
        SECRET_KEY=hashlib.sha256(f"newsletter.web\0{secret_key}".encode()).hexdigest(),
        SESSION_COOKIE_SECURE=nl.base_url.startswith("https://"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=16 * 1024,
        MAX_FORM_MEMORY_SIZE=8 * 1024,
        MAX_FORM_PARTS=20,
        WTF_CSRF_TIME_LIMIT=6 * 3600,
        WTF_CSRF_SSL_STRICT=False,  # the Origin/Referer check breaks behind some proxies; the token suffices
    )
    # Links are built from base_url, never from X-Forwarded-Host/-Prefix; the client address and
    # scheme are taken from exactly ``trusted_proxies`` hops of X-Forwarded-For/-Proto (none by default).
    prefix = urlsplit(nl.base_url).path.rstrip("/")
    if prefix:
        app.wsgi_app = _BasePath(app.wsgi_app, prefix)  # type: ignore[method-assign]
    if settings.web.trusted_proxies:
        n = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_prefix=0)  # type: ignore[method-assign]
    csrf = CSRFProtect(app)
    app.register_blueprint(csrf.exempt(webhooks_blueprint(settings, store, environ=environ, clock=now)))
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", default_limits=[],
                      headers_enabled=True)
    versions = WebVersions(settings)
    images = ImageIndex()
    mails = mail_queue or MailQueue()
    app.extensions["newsletter.mail_queue"] = mails
    mail_gate = RateGate(settings.web.confirm_mail_limit)
    lang = nl.locale.split("_")[0]
    confirm_seconds = settings.web.confirm_hours * 3600

    @app.context_processor
    def identity() -> dict[str, Any]:
        return {"newsletter": nl, "lang": lang}

    def page(template: str, status: int = 200, **context: Any) -> Response:
        return Response(render_template(template, **context), status=status, mimetype="text/html")

    def message(title: str, text: str, status: int = 200, **context: Any) -> Response:
        return page("message.html", status, title=title, text=text, **context)

    def client_ip() -> str:
        return (request.remote_addr or "")[:64] if settings.web.record_ip else ""

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # tokens travel in URLs
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        if request.path.startswith(("/u/", "/confirm/", "/subscribe")):
            response.headers["Cache-Control"] = "no-store"
        return response

    # -- unsubscribe ---------------------------------------------------------------------------

    def unsubscribe_address(token: str) -> str:
        address = read_token(secret_key, UNSUBSCRIBE, token)
        if address is None:
            abort(400, description="bad-token")
        return address

    @app.get("/u/<token>")
    def unsubscribe_page(token: str) -> Response:
        address = unsubscribe_address(token)
        person = find_subscriber(store, address)
        done = person is not None and person.status == SubscriberStatus.UNSUBSCRIBED.value
        return page("unsubscribe.html", masked=mask(address), done=done, undo=None)

    @app.post("/u/<token>")
    @csrf.exempt
    def unsubscribe_now(token: str) -> Response:
        address = unsubscribe_address(token)
        try:
            unsubscribe(store, address, now=now())  # committed when it returns
        except StoreError:
            raise  # never say "done" for a change the database did not keep: a 503 page
        except NewsletterError:
            pass  # not (or no longer) in the list: the answer is the same
        log.info("unsubscribed %s", mask(address))
        undo = make_timed_token(secret_key, RESUBSCRIBE, address)
        return page("unsubscribe.html", masked=mask(address), done=True, undo=undo)

    def token_key() -> str:
        return "token:" + hashlib.sha256(str((request.view_args or {}).get("token", "")).encode()).hexdigest()

    @app.post("/u/<token>/resubscribe")
    @csrf.exempt  # the signed, short-lived ``undo`` token does the CSRF token's job without a cookie
    @limiter.limit(settings.web.subscribe_limit)
    @limiter.limit(settings.web.confirm_mail_limit, key_func=token_key)
    def resubscribe(token: str) -> Response:
        address = unsubscribe_address(token)
        payload, problem = read_timed_token(secret_key, RESUBSCRIBE, request.form.get("undo", ""),
                                            max_age=RESUBSCRIBE_SECONDS)
        if payload != address:
            return message("Lien expiré", "Ce bouton n'est plus valable. Vous pouvez vous réabonner avec le "
                           "formulaire d'inscription.", 400, link=url_for("subscribe_form"))
        mails.submit(address)
        return message("Vérifiez votre boîte de réception",
                       "Nous venons de vous envoyer un lien de confirmation : cliquez dessus pour vous réabonner.")

    # -- subscribe and confirm -----------------------------------------------------------------

    def mail_confirmation(address: str) -> None:
        """The background thread's job: one confirmation mail, unless active already or over the limit."""
        person = find_subscriber(store, address)
        if person is None or person.status == SubscriberStatus.ACTIVE.value:
            return
        if not mail_gate.allow("confirm-mail", address):
            log.warning("no confirmation mail for %s: [web] confirm_mail_limit reached", mask(address))
            return
        token = make_timed_token(secret_key, CONFIRM, address)
        link = f"{nl.base_url}/confirm/{token}"
        hours = settings.web.confirm_hours
        # No first name here: it is whatever a stranger typed, and this mail goes to any address.
        body = (f"Bonjour,\n\n"
                f"Pour recevoir « {nl.name} », confirmez votre adresse en ouvrant ce lien "
                f"(valable {hours} heures) :\n\n{link}\n\n"
                "Si vous n'avez rien demandé, ignorez ce message : vous ne recevrez rien.\n\n"
                f"{nl.sender_name}\n{nl.postal_address}\n")
        with app.app_context():
            html_body = render_template("confirm_mail.html", link=link, hours=hours)
        error = send_notice(settings, address, f"Confirmez votre inscription à {nl.name}", body, html=html_body,
                            environ=environ)
        if error:
            log.error("the confirmation for %s could not be sent: %s", mask(address), error)

    mails.bind(mail_confirmation)

    @app.get("/subscribe")
    def subscribe_form() -> Response:
        # A form embedded on another site sends its fields here by GET: they are shown, pre-filled,
        # for the person to submit with this site's CSRF token.
        email = request.args.get("email", "").strip()[:320]
        first_name = " ".join(_CONTROL.sub(" ", request.args.get("first_name", "")).split())[:MAX_FIRST_NAME]
        return page("subscribe.html", error="", email=email, first_name=first_name)

    @app.post("/subscribe")
    @limiter.limit(settings.web.subscribe_limit)
    def subscribe() -> Response:
        form = request.form
        email = form.get("email", "").strip()[:320]
        typed = form.get("first_name", "")[:1000]
        first_name = " ".join(_CONTROL.sub(" ", typed).split())
        if form.get("website"):  # the honeypot: people never see this field, robots fill it
            log.info("subscription refused: honeypot filled")
            return thanks()
        problem = first_name_problem(typed)
        if problem:
            return page("subscribe.html", 400, error=problem, email=email, first_name=first_name[:MAX_FIRST_NAME])
        try:
            address = canonical(email)
        except NewsletterError:
            return page("subscribe.html", 400, error="Cette adresse n'est pas valide : vérifiez-la.",
                        email=email, first_name=first_name)
        # The same two steps for every address: one statement, one queued job (see the module docstring).
        request_subscription(store, address, now=now(), first_name=first_name, ip=client_ip())
        mails.submit(address)
        return thanks()

    def thanks() -> Response:
        # The same answer for a new, a known and an unsubscribed address: nothing to learn here.
        return message("Vérifiez votre boîte de réception",
                       "Si l'adresse est valide, vous allez recevoir un message avec un lien de confirmation. "
                       "Votre inscription ne sera effective qu'après avoir cliqué sur ce lien.")

    def confirmation(token: str) -> str:
        """The address of a valid confirmation token (the pending request's data is in the store)."""
        payload, problem = read_timed_token(secret_key, CONFIRM, token, max_age=confirm_seconds)
        if problem == "expired":
            abort(400, description="expired")
        if isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload):
            payload = payload[0]  # a link mailed before opaque tokens: [address, first name]
        if not isinstance(payload, str):
            abort(400, description="bad-token")
        return payload

    @app.get("/confirm/<token>")
    def confirm_page(token: str) -> Response:
        address = confirmation(token)
        return page("confirm.html", masked=mask(address))

    @app.post("/confirm/<token>")
    @csrf.exempt
    def confirm(token: str) -> Response:
        address = confirmation(token)
        confirm_subscription(store, address, now=now(), ip=client_ip())
        log.info("subscription confirmed for %s", mask(address))
        return message("Inscription confirmée", f"C'est fait : vous recevrez « {nl.name} » à l'adresse "
                       f"{mask(address)}.", link=url_for("archive"))

    # -- archive -------------------------------------------------------------------------------

    @app.get("/")
    def home() -> Response:
        return page("archive.html", issues=published(store)[:10], home=True)

    @app.get("/archive/")
    def archive() -> Response:
        return page("archive.html", issues=published(store), home=False)

    def issue_day(day: str) -> date:
        try:
            return date.fromisoformat(day)
        except ValueError:
            abort(404)

    def published_day(day: str) -> date:
        value = issue_day(day)
        if value not in {p.day for p in published(store)}:
            abort(404)
        return value

    @app.get("/archive/<day>/")
    def web_version(day: str) -> Response:
        # Before the send, only the proofreading link of test copies opens it (a key derived from the secret).
        value = issue_day(day)
        key = request.args.get(PROOF_PARAM, "")
        proof = bool(key) and is_proof_key(secret_key, value, key)
        if not proof:
            published_day(day)
        html = versions.html(value)
        if html is None:
            abort(404)
        response = Response(html, mimetype="text/html")
        if proof:
            response.headers["X-Robots-Tag"] = "noindex"
            response.headers["Cache-Control"] = "private, no-store"
        return response

    def image_response(image: Image, max_age: int) -> Response:
        response = Response(image.data, mimetype=image.media_type)
        response.headers["Cache-Control"] = f"public, max-age={max_age}" + (", immutable" if max_age > 86400 else "")
        return response

    @app.get("/archive/<day>/<path:asset>")
    def asset(day: str, asset: str) -> Response:
        # The image URLs of issues sent before content-hashed assets; a sent issue's files only.
        value = published_day(day)
        try:
            image = read_image(issue_folder(settings.issues_dir, value), asset)
        except UnsafeFileError:
            abort(404)
        return image_response(image, 86400)

    @app.get("/assets/<day>/<name>")
    def hashed_asset(day: str, name: str) -> Response:
        # Any issue on disk, sent or not: the name is the hash of the file's bytes, so only someone
        # who was sent the URL can ask for it.
        if not _HASHED.fullmatch(name):
            abort(404)
        image = images.find(issue_folder(settings.issues_dir, issue_day(day)), name)
        if image is None:
            abort(404)
        return image_response(image, 365 * 86400)

    @app.get("/feed.xml")
    def feed() -> Response:
        return Response(atom_feed(settings, published(store, limit=50), versions), mimetype="application/atom+xml")

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        try:
            with store.engine.connect() as conn:
                conn.execute(text("select 1"))
        except Exception as err:  # any database failure is what this endpoint reports
            return {"status": "error", "database": err.__class__.__name__}, 503
        return {"status": "ok", "database": "ok"}, 200

    # -- errors: always a page, never a traceback --------------------------------------------

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> Response:
        return message("Formulaire expiré", "Le formulaire a expiré ou n'est pas valide. Rechargez la page et "
                       "recommencez.", 400, link=url_for("subscribe_form"))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        code = err.code or 500
        if code == 400 and err.description == "expired":
            return message("Lien expiré", f"Ce lien de confirmation a plus de {settings.web.confirm_hours} heures. "
                           "Inscrivez-vous de nouveau : un nouveau lien vous sera envoyé.", 400,
                           link=url_for("subscribe_form"))
        if code == 400 and err.description == "bad-token":
            return message("Lien non valide", "Ce lien est incomplet ou a été modifié. Utilisez le lien exact "
                           "reçu par e-mail.", 400)
        titles = {400: "Requête non valide", 404: "Page introuvable", 405: "Méthode non autorisée",
                  413: "Requête trop grande", 429: "Trop de demandes"}
        texts = {429: "Vous avez fait trop de demandes en peu de temps. Réessayez dans quelques minutes."}
        response = message(titles.get(code, "Erreur"), texts.get(code, "La demande n'a pas pu aboutir."), code)
        for name in ("Retry-After", "Allow"):
            if err.get_response().headers.get(name):
                response.headers[name] = err.get_response().headers[name]
        return response

    @app.errorhandler(StoreError)
    def store_error(err: StoreError) -> Response:
        log.error("the database failed on %s %s: %s", request.method, request.path, err)
        response = message("Service indisponible", "Votre demande n'a pas pu être enregistrée. Réessayez dans "
                           "quelques minutes.", 503)
        response.headers["Retry-After"] = "60"
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return message("Erreur", "Une erreur est survenue de notre côté. Réessayez plus tard.", 500)

    return app
