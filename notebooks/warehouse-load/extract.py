"""Extract: today's orders (synthetic, offline) -> extract.csv and the staging_orders table.

The next steps are SQL (schema.sql, load.sql) and cannot read a CSV, so the rows are also
staged in the warehouse; load.sql moves the new ones into ``orders``.
"""

import random
from datetime import date

import pandas as pd

from studio import context

PRODUCTS = {"espresso": 2.40, "cappuccino": 3.20, "croissant": 1.90, "bagel": 3.50, "sandwich": 6.50}
REGIONS = ("emea", "amer", "apac")


def extract(day: str, region: str) -> pd.DataFrame:
    """The day's orders; seeded by the day so a re-run extracts the same rows (load.sql dedupes)."""
    rng = random.Random(f"warehouse-{day}")
    rows = []
    for i in range(120):
        product = rng.choice(list(PRODUCTS))
        rows.append({
            "order_id": f"{day}-{i:04d}",
            "order_date": day,
            "region": rng.choice(REGIONS),
            "product": product,
            "amount": round(PRODUCTS[product] * rng.randint(1, 4), 2),
        })
    orders = pd.DataFrame(rows)
    return orders if region == "all" else orders[orders["region"] == region]


region = context.params.get("region", "all")
day = date.today().isoformat()
orders = extract(day, region)
orders.to_csv("extract.csv", index=False)
context.log.info(f"extracted {len(orders)} orders for {day} (region {region}) to extract.csv",
                 rows=len(orders), region=region)

engine = context.db("warehouse")  # the connection URL is a secret: never print it
try:
    orders.to_sql("staging_orders", engine, if_exists="replace", index=False)
finally:
    engine.dispose()
context.log.info(f"staged {len(orders)} rows in staging_orders")
