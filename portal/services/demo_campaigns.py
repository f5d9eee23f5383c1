"""Demo campaigns: three offenders whose traces link reports from several regions.

- A sextortion ring with Instagram bait profiles and one phone number written every way a
  victim would, paid through money-transfer codes and a bank account; a victim who paid is
  blackmailed again later (the repeat alert).
- A fake online shop whose "customers" all paid into the same mule account.
- A crypto "investment" channel on Telegram collecting USDT on Tron.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

import base58
from sqlalchemy.orm import Session

from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring
from portal.domain.identifiers import rib_key
from portal.domain.receipts import ReceiptHasher
from portal.domain.urlnorm import normalize_url
from portal.services import campaigns
from portal.services.reports import ReportSubmission, submit_report


def _rib(seed: str) -> str:
    digits = str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:16]
    first22 = "007" + "780" + digits
    return first22 + rib_key(first22)


def _tron(seed: str) -> str:
    return base58.b58encode_check(b"\x41" + hashlib.sha256(seed.encode()).digest()[:20]).decode()


RING_PHONE = ["0677 12 34 98", "+212 677-123498", "00212677123498", "06.77.12.34.98"]
RING_CITIES = ["MA-CAS", "MA-RAB", "MA-FES", "MA-MAR", "MA-TNG", "MA-AGD", "MA-SAL", "MA-OUJ"]
SHOP_CITIES = ["MA-AGD", "MA-OUJ", "MA-CAS", "MA-KEN", "MA-MEK", "MA-TET", "MA-BEM"]
CRYPTO_CITIES = ["MA-RAB", "MA-CAS", "MA-MAR", "MA-FES", "MA-TNG"]

RING_TEXT = (
    "J'ai parlé avec une fille sur Instagram, elle m'a demandé une vidéo en appel. Maintenant "
    "un numéro WhatsApp me demande de l'argent sinon il envoie la vidéo à ma famille."
)
SHOP_TEXT = (
    "J'ai commandé un téléphone sur une page de promotions. J'ai payé par virement et je n'ai "
    "jamais rien reçu, la page ne répond plus."
)
CRYPTO_TEXT = (
    "Un groupe Telegram promettait 30 % de gain par semaine. J'ai envoyé des USDT et je ne "
    "peux plus rien retirer."
)


def create_demo_campaigns(
    session: Session,
    keyring: Keyring,
    indexer: BlindIndexer,
    throwaway: ReceiptHasher,
    *,
    now: datetime,
    seed: int = 17,
) -> int:
    """Create the demo campaigns' reports, linked as intake would link them; returns how many."""
    rng = random.Random(seed)
    created = 0

    def add(
        category: str,
        platform: str,
        text: str,
        city: str,
        url: str,
        answers: dict[str, str],
        days_ago: float,
    ) -> None:
        nonlocal created
        submitted = now - timedelta(days=days_ago, hours=rng.uniform(0, 12))
        normalized = normalize_url(url)
        report, _ = submit_report(
            session,
            ReportSubmission(
                category=category,
                platform=platform,
                description=text,
                urls=[normalized],
                subdivision_code=city,
                answers=answers,
            ),
            keyring=keyring,
            hasher=throwaway,
            indexer=indexer,
            now=submitted,
        )
        campaigns.link_new_report(
            session,
            report,
            answers,
            [normalized],
            indexer=indexer,
            keyring=keyring,
            now=submitted,
        )
        created += 1

    ring_payee = _rib("ring")
    for index, city in enumerate(RING_CITIES):
        paid = "yes" if index % 3 == 0 else "no"
        bait = ["Salma.Beauty_22", "salma.beauty_22", "lina_model.ma"][index % 3]
        payee = f"{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        add(
            "sextortion",
            "instagram",
            RING_TEXT,
            city,
            f"https://www.instagram.com/{bait}/",
            {
                "money_demanded": "yes",
                "paid": paid,
                "offender_accounts": f"{RING_PHONE[index % 4]}\n@{bait}",
                "payee": payee if index % 2 else ring_payee,
                "amount_demanded": str(rng.choice([2000, 3000, 5000, 10000])),
                "currency": "MAD",
            },
            days_ago=42 - index * 5,
        )
    # The first victim, who paid, is blackmailed again from the same number.
    add(
        "sextortion",
        "whatsapp",
        RING_TEXT,
        RING_CITIES[0],
        "https://wa.me/212677123498",
        {
            "money_demanded": "yes",
            "paid": "no",
            "offender_accounts": RING_PHONE[1],
            "amount_demanded": "8000",
            "currency": "MAD",
        },
        days_ago=0.5,
    )

    mule = _rib("shop")
    for index, city in enumerate(SHOP_CITIES):
        add(
            "fraud",
            "facebook",
            SHOP_TEXT,
            city,
            f"https://www.facebook.com/profile.php?id=1000{7123450 + index}",
            {
                "amount": str(rng.choice([1200, 2500, 3800, 4500])),
                "payment_method": "virement",
                "payee_account": " ".join(mule[i : i + 4] for i in range(0, 24, 4)),
                "scammer_accounts": "06 61 98 76 54" if index % 2 else "+212661987654",
            },
            days_ago=60 - index * 8,
        )

    wallet = _tron("crypto")
    for index, city in enumerate(CRYPTO_CITIES):
        add(
            "fraud",
            "telegram",
            CRYPTO_TEXT,
            city,
            "https://t.me/Invest_Pro_Maroc",
            {
                "amount": str(rng.choice([5000, 12000, 25000])),
                "payment_method": "USDT",
                "payee_wallet": wallet,
                "scammer_accounts": "https://t.me/Invest_Pro_Maroc",
            },
            days_ago=25 - index * 4,
        )
    return created
