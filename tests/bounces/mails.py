"""Returned mail written for these tests: each function gives one message as bytes, CRLF-free like a Maildir file.

Written by hand after RFC 3464 (DSN), RFC 5965 (ARF) and the shapes qmail and Postfix produce;
the addresses are those of the messages the tests really sent.
"""

from __future__ import annotations

BOUNCE_DOMAIN = "bounce.example.org"


def dsn(to: str, recipient: str, *, status: str = "5.1.1", action: str = "failed",
        diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
        message_id: str = "<dsn.1@mx.destinataire.example>") -> bytes:
    """A standard DSN (multipart/report; report-type=delivery-status) as Postfix sends one."""
    diag = diagnostic.format(r=recipient)
    return f"""Return-Path: <>
Delivered-To: {to}
Received: from mx.destinataire.example (mx.destinataire.example [192.0.2.25])
\tby mx.{BOUNCE_DOMAIN} with ESMTPS id 4Q7; Thu, 26 Nov 2026 07:02:11 +0100
Date: Thu, 26 Nov 2026 07:02:10 +0100 (CET)
From: MAILER-DAEMON@mx.destinataire.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Auto-Submitted: auto-replied
Message-ID: {message_id}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B0UND.4Q7/mx.destinataire.example"

This is a MIME-encapsulated message.

--B0UND.4Q7/mx.destinataire.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.destinataire.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host store.destinataire.example said: 550 5.1.1 User unknown

--B0UND.4Q7/mx.destinataire.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.destinataire.example
X-Postfix-Queue-ID: 4Q7
Arrival-Date: Thu, 26 Nov 2026 07:02:09 +0100 (CET)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; store.destinataire.example
Diagnostic-Code: {diag}

--B0UND.4Q7/mx.destinataire.example
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{to}>
From: La redaction <redaction@example.org>
To: {recipient}
Subject: 5 infos

--B0UND.4Q7/mx.destinataire.example--
""".encode("utf-8")


def qmail(to: str, recipient: str) -> bytes:
    """A qmail-send failure notice: no DSN part, plain text only (a non-standard format)."""
    return f"""Return-Path: <>
Delivered-To: {to}
Date: 26 Nov 2026 06:03:00 -0000
From: MAILER-DAEMON@mail.ancien.example
To: {to}
Subject: failure notice
Message-ID: <20261126060300.31337.qmail@mail.ancien.example>

Hi. This is the qmail-send program at mail.ancien.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <{to}>
From: La redaction <redaction@example.org>
To: {recipient}
Subject: 5 infos

Bonjour,
""".encode("utf-8")


def arf_yahoo(to: str, original_return_path: str, recipient: str) -> bytes:
    """A Yahoo-style feedback-loop complaint (ARF): Original-Mail-From carries our VERP address."""
    return f"""Return-Path: <feedback@arf.mail.yahoo.example>
Delivered-To: {to}
Date: Thu, 26 Nov 2026 09:15:00 +0000
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.example>
To: {to}
Subject: FW: 5 infos
Message-ID: <arf-1@arf.mail.yahoo.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="----=Part_ARF_1"

------=Part_ARF_1
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 192.0.2.10.

------=Part_ARF_1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <{original_return_path}>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Thu, 26 Nov 2026 07:00:05 +0000
Reported-Domain: example.org
Source-IP: 192.0.2.10

------=Part_ARF_1
Content-Type: text/rfc822-headers

Return-Path: <{original_return_path}>
From: La redaction <redaction@example.org>
To: {recipient}
Subject: 5 infos

------=Part_ARF_1--
""".encode("utf-8")


def arf_microsoft(to: str, original_headers: str) -> bytes:
    """A Microsoft JMRP-style complaint: the whole reported message attached (message/rfc822), no Original-Mail-From."""
    return f"""Delivered-To: {to}
Date: Thu, 26 Nov 2026 10:20:00 +0000
From: staff@hotmail.example
To: {to}
Subject: complaint about message from 192.0.2.10
Message-ID: <jmrp-77@hotmail.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="JMRP_77"

--JMRP_77
Content-Type: text/plain

This is an email abuse report for an email message with the message-id of x received from IP 192.0.2.10.

--JMRP_77
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Hotmail FBL
Version: 0.1
Received-Date: Thu, 26 Nov 2026 07:01:00 +0000
Source-IP: 192.0.2.10

--JMRP_77
Content-Type: message/rfc822
Content-Disposition: inline

{original_headers}
Bonjour,

--JMRP_77--
""".encode("utf-8")


def mailto_unsubscribe(to: str, sender: str) -> bytes:
    """What a mail client sends for the List-Unsubscribe mailto: link."""
    return f"""Delivered-To: {to}
Date: Thu, 26 Nov 2026 08:00:00 +0100
From: {sender}
To: {to}
Subject: unsubscribe
Message-ID: <unsub-1@client.example>

""".encode("utf-8")


def out_of_office(to: str) -> bytes:
    """An automatic reply sent to the envelope sender: not a bounce, left for a human."""
    return f"""Delivered-To: {to}
Date: Thu, 26 Nov 2026 08:30:00 +0100
From: Lea <lea@destinataire.example>
To: {to}
Subject: Absence du bureau
Auto-Submitted: auto-replied
Message-ID: <oof-1@destinataire.example>

Je suis en congés jusqu'au 2 décembre et je lirai votre message à mon retour.
""".encode("utf-8")
