-- The warehouse tables; safe to run on every execution.
CREATE TABLE IF NOT EXISTS orders (
    order_id   VARCHAR(40) PRIMARY KEY,
    order_date VARCHAR(10) NOT NULL,
    region     VARCHAR(10) NOT NULL,
    product    VARCHAR(40) NOT NULL,
    amount     NUMERIC(12, 2) NOT NULL
);

-- One row per execution of warehouse-load.
CREATE TABLE IF NOT EXISTS loads (
    loaded_at VARCHAR(40) NOT NULL,
    region    VARCHAR(10) NOT NULL,
    staged    INTEGER NOT NULL,
    inserted  INTEGER NOT NULL
);
