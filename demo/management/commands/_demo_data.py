"""Synthetic but plausible data for the demo use cases: evaluation data as CSV files in
memory, and a prediction log as rows for the ingest service.

Seeded, so `load_demo` produces the same figures every time.
"""

from __future__ import annotations

import csv
import datetime
import io

import numpy as np

STORES = [f"S{n:02d}" for n in range(1, 21)]


def _csv(header: list[str], columns: list) -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(zip(*columns, strict=True))
    return io.BytesIO(text.getvalue().encode())


def grocery(days: int = 28, products: int = 40) -> tuple[io.BytesIO, dict[str, io.BytesIO]]:
    """Daily units sold per store and product, and two versions' forecasts of them."""
    rng = np.random.default_rng(7)
    store = np.repeat(STORES, products * days)
    product_ids = np.tile(
        np.repeat([f"P{n:05d}" for n in range(10001, 10001 + products)], days), len(STORES)
    )
    day = np.tile(np.arange(days), len(STORES) * products)
    day_of_week = day % 7
    price = np.round(np.tile(np.repeat(rng.uniform(0.5, 9.0, products), days), len(STORES)), 2)
    promo = rng.random(store.size) < 0.12
    temperature = np.round(rng.normal(14, 6, store.size), 1)
    holiday = np.isin(day, [11, 25])
    store_size = np.repeat(rng.uniform(0.6, 1.6, len(STORES)), products * days)
    base = 18 * store_size / np.sqrt(price) * (1 + 0.35 * (day_of_week >= 5)) * (1 + 0.6 * promo)
    units = rng.poisson(base * (1 + 0.3 * holiday))
    dataset = _csv(
        [
            "id",
            "store",
            "product",
            "day_of_week",
            "price",
            "promo",
            "temperature",
            "holiday",
            "label",
            "segment",
        ],
        [
            [f"{s}-{p}-{d:02d}" for s, p, d in zip(store, product_ids, day, strict=True)],
            store,
            product_ids,
            day_of_week,
            price,
            promo.astype(int),
            temperature,
            holiday.astype(int),
            units,
            store,
        ],
    )
    ids = [f"{s}-{p}-{d:02d}" for s, p, d in zip(store, product_ids, day, strict=True)]
    # v1 ignores weekends and promotions; v2 knows both and is less biased.
    v1 = np.maximum(0, 18 * store_size / np.sqrt(price) * 1.08 + rng.normal(0, 4, store.size))
    v2 = np.maximum(0, base * 1.01 + rng.normal(0, 2.2, store.size))
    forecasts = {
        "1.0.0": _csv(["id", "prediction"], [ids, np.round(v1, 2)]),
        "1.1.0": _csv(["id", "prediction"], [ids, np.round(v2, 2)]),
    }
    return dataset, forecasts


def churn(customers: int = 12000) -> tuple[io.BytesIO, dict[str, io.BytesIO]]:
    """Customers, whether they left within 90 days, and two versions' churn scores."""
    rng = np.random.default_rng(11)
    age = rng.integers(18, 90, customers)
    tenure = rng.integers(0, 240, customers)
    balance = np.round(np.maximum(0, rng.normal(40000, 30000, customers)), 2)
    products = rng.integers(1, 5, customers)
    card = rng.random(customers) < 0.7
    active = rng.random(customers) < 0.55
    country = rng.choice(["FR", "DE", "ES"], customers, p=[0.5, 0.25, 0.25])
    salary = np.round(rng.uniform(15000, 150000, customers), 2)
    logit = (
        -1.5
        + 0.07 * (age - 45)
        - 0.012 * tenure
        - 1.6 * active
        + 1.4 * (products >= 3)
        + 0.9 * (country == "DE")
    )
    churned = rng.random(customers) < 1 / (1 + np.exp(-logit))
    ids = [f"C{n:06d}" for n in range(customers)]
    dataset = _csv(
        [
            "id",
            "age",
            "tenure_months",
            "balance",
            "products",
            "has_credit_card",
            "is_active_member",
            "country",
            "salary",
            "label",
            "segment",
        ],
        [
            ids,
            age,
            tenure,
            balance,
            products,
            card.astype(int),
            active.astype(int),
            country,
            salary,
            churned.astype(int),
            country,
        ],
    )

    def scores(noise: float) -> np.ndarray:
        return np.round(1 / (1 + np.exp(-(logit + rng.normal(0, noise, customers)))), 4)

    versions = {
        "0.9.0": _csv(["id", "score"], [ids, scores(1.6)]),
        "1.0.0": _csv(["id", "score"], [ids, scores(0.5)]),
    }
    return dataset, versions


def grocery_log(now: datetime.datetime, days: int = 14, products: int = 10) -> list[dict]:
    """Two weeks of the 06:00 forecasts, logged by serving: production (1.0.0) and its
    shadow challenger (1.1.0) on the same requests. Store S21 opened three days ago and is
    not yet in the data-quality rule's list of stores: its rows break that rule."""
    rng = np.random.default_rng(21)
    stores = [*STORES, "S21"]
    size = dict(zip(stores, rng.uniform(0.6, 1.6, len(stores)), strict=True))
    prices = np.round(rng.uniform(0.5, 9.0, products), 2)
    rows = []
    for back in range(days, 0, -1):
        at = (now - datetime.timedelta(days=back)).replace(hour=6, minute=0, second=0)
        holiday = back == 11
        for store in stores if back <= 3 else STORES:
            for n, price in enumerate(prices):
                promo = bool(rng.random() < 0.12)
                base = 18 * size[store] / np.sqrt(price)
                weekend = 1 + 0.35 * (at.weekday() >= 5)
                forecasts = {
                    "1.0.0": base * 1.08 + rng.normal(0, 4),
                    "1.1.0": base * weekend * (1 + 0.6 * promo) * 1.01 + rng.normal(0, 2.2),
                }
                features = {
                    "store": store,
                    "product": f"P{10001 + n:05d}",
                    "day_of_week": at.weekday(),
                    "price": float(price),
                    "promo": promo,
                    "temperature": round(float(rng.normal(14, 6)), 1),
                    "holiday": holiday,
                }
                for version, forecast in forecasts.items():
                    rows.append(
                        {
                            "version": version,
                            "request_id": f"{store}-{features['product']}-{at:%Y%m%d}",
                            "timestamp": at.isoformat(),
                            "features": features,
                            "prediction": round(max(0.0, float(forecast)), 2),
                            "segment": store,
                        }
                    )
    return rows
