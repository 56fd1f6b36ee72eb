-- One healthy daily load of the demo warehouse: the "classicmodels" sales schema (in snake_case) and
-- its star schema. Every table is rebuilt, as small warehouses often do ("truncate and load").
--
-- Inputs, set by warehouse.py: the variables `now` (TIMESTAMP, UTC, whole seconds) and `through`
-- (DATE: the last day of orders this load brings in). The order history always spans the same 91
-- days before `now`, so a later load keeps every earlier order and adds the new day's. Pseudo-random
-- values come from hash() of a key and a salt, so a build is a pure function of its inputs.

SET VARIABLE first_day = CAST(getvariable('now') AS DATE) - 91;
SET VARIABLE loaded_at = getvariable('now') - INTERVAL 15 MINUTE;  -- the sales extract
SET VARIABLE built_at = getvariable('now') - INTERVAL 10 MINUTE;   -- the star schema built from it

CREATE OR REPLACE TEMP MACRO roll(key, salt, n) AS CAST(hash(key, salt) % n AS INTEGER);
CREATE OR REPLACE TEMP MACRO unit(key, salt) AS roll(key, salt, 1000000) / 1000000.0;
CREATE OR REPLACE TEMP MACRO pick(choices, key, salt) AS choices[1 + roll(key, salt, len(choices))];
CREATE OR REPLACE TEMP MACRO customer_number(i) AS CAST(100 + 3 * i + roll(i, 'customer number', 3) AS INTEGER);

CREATE SCHEMA IF NOT EXISTS sales;
CREATE SCHEMA IF NOT EXISTS analytics;

-- sales: the order-entry system's tables ---------------------------------------------------------

CREATE OR REPLACE TABLE sales.offices AS
SELECT *, getvariable('loaded_at') AS loaded_at
FROM (VALUES
    ('1', 'San Francisco', '+1 650 555 0142', '100 Market Street', 'Suite 300', 'CA', 'USA', '94080', 'NA'),
    ('2', 'Boston', '+1 617 555 0187', '1550 Court Place', 'Suite 102', 'MA', 'USA', '02107', 'NA'),
    ('3', 'NYC', '+1 212 555 0123', '523 East 53rd Street', 'apt. 5A', 'NY', 'USA', '10022', 'NA'),
    ('4', 'Paris', '+33 1 55 55 01 44', '43 Rue Jouffroy d''Abbans', NULL, NULL, 'France', '75017', 'EMEA'),
    ('5', 'Tokyo', '+81 3 5555 0150', '4-1 Kioicho', NULL, 'Chiyoda-Ku', 'Japan', '102-8578', 'Japan'),
    ('6', 'Sydney', '+61 2 5550 1245', '5-11 Wentworth Avenue', 'Floor #2', NULL, 'Australia', 'NSW 2010', 'APAC'),
    ('7', 'London', '+44 20 7946 0041', '25 Old Broad Street', 'Level 7', NULL, 'UK', 'EC2N 1HN', 'EMEA')
) AS t(office_code, city, phone, address_line1, address_line2, state, country, postal_code, territory);

CREATE OR REPLACE TABLE sales.employees AS
SELECT CAST(employee_number AS INTEGER) AS employee_number, last_name, first_name,
       'x' || (1000 + roll(employee_number, 'extension', 9000)) AS extension,
       lower(left(first_name, 1) || regexp_replace(last_name, '[^A-Za-z]', '', 'g')) || '@classicmodelcars.com'
           AS email,
       office_code, CAST(reports_to AS INTEGER) AS reports_to, job_title, getvariable('loaded_at') AS loaded_at
FROM (VALUES
    (1002, 'Hartley', 'Diane', '1', NULL, 'President'),
    (1056, 'Okafor', 'Mary', '1', 1002, 'VP Sales'),
    (1076, 'Lindqvist', 'Jeff', '1', 1002, 'VP Marketing'),
    (1088, 'Brennan', 'William', '6', 1056, 'Sales Manager (APAC)'),
    (1102, 'Moreau', 'Gerard', '4', 1056, 'Sales Manager (EMEA)'),
    (1143, 'Castillo', 'Anthony', '1', 1056, 'Sales Manager (NA)'),
    (1165, 'Jennings', 'Leslie', '1', 1143, 'Sales Rep'),
    (1166, 'Alvarez', 'Marco', '1', 1143, 'Sales Rep'),
    (1188, 'Firth', 'Julie', '2', 1143, 'Sales Rep'),
    (1216, 'Patel', 'Steve', '2', 1143, 'Sales Rep'),
    (1286, 'Rosen', 'Naomi', '3', 1143, 'Sales Rep'),
    (1323, 'Vance', 'George', '3', 1143, 'Sales Rep'),
    (1337, 'Bernard', 'Louis', '4', 1102, 'Sales Rep'),
    (1370, 'Lefevre', 'Camille', '4', 1102, 'Sales Rep'),
    (1401, 'Rossi', 'Paola', '4', 1102, 'Sales Rep'),
    (1501, 'Clarke', 'Harry', '7', 1102, 'Sales Rep'),
    (1504, 'Evans', 'Bethan', '7', 1102, 'Sales Rep'),
    (1611, 'Walsh', 'Andy', '6', 1088, 'Sales Rep'),
    (1612, 'Singh', 'Priya', '6', 1088, 'Sales Rep'),
    (1619, 'O''Neill', 'Tom', '6', 1088, 'Sales Rep'),
    (1621, 'Sato', 'Mami', '5', 1056, 'Sales Rep'),
    (1625, 'Kimura', 'Yoshimi', '5', 1621, 'Sales Rep'),
    (1702, 'Dubois', 'Martin', '4', 1102, 'Sales Rep')
) AS t(employee_number, last_name, first_name, office_code, reports_to, job_title);

-- 122 customers; the last 22 are prospects: no sales rep, no credit, no orders.
CREATE OR REPLACE TABLE sales.customers AS
WITH locations AS (
    SELECT row_number() OVER (ORDER BY country, city) - 1 AS n, *
    FROM (VALUES
        ('San Francisco', 'CA', '94117', 'USA', 'NA', '+1 415'), ('Los Angeles', 'CA', '90003', 'USA', 'NA', '+1 213'),
        ('San Diego', 'CA', '92101', 'USA', 'NA', '+1 619'), ('Boston', 'MA', '02116', 'USA', 'NA', '+1 617'),
        ('Cambridge', 'MA', '02139', 'USA', 'NA', '+1 617'), ('New York', 'NY', '10022', 'USA', 'NA', '+1 212'),
        ('White Plains', 'NY', '10601', 'USA', 'NA', '+1 914'), ('Philadelphia', 'PA', '19103', 'USA', 'NA', '+1 215'),
        ('Chicago', 'IL', '60601', 'USA', 'NA', '+1 312'), ('Las Vegas', 'NV', '89109', 'USA', 'NA', '+1 702'),
        ('Portland', 'OR', '97205', 'USA', 'NA', '+1 503'), ('Vancouver', 'BC', 'V6B 3P6', 'Canada', 'NA', '+1 604'),
        ('Montreal', 'QC', 'H2X 1Y4', 'Canada', 'NA', '+1 514'), ('Paris', NULL, '75016', 'France', 'EMEA', '+33 1'),
        ('Lyon', NULL, '69004', 'France', 'EMEA', '+33 4'), ('Nantes', NULL, '44000', 'France', 'EMEA', '+33 2'),
        ('London', NULL, 'WC1 6XR', 'UK', 'EMEA', '+44 20'), ('Manchester', NULL, 'M1 2AB', 'UK', 'EMEA', '+44 161'),
        ('Madrid', NULL, '28034', 'Spain', 'EMEA', '+34 91'), ('Barcelona', NULL, '08022', 'Spain', 'EMEA', '+34 93'),
        ('Frankfurt', NULL, '60528', 'Germany', 'EMEA', '+49 69'), ('Munich', NULL, '80686', 'Germany', 'EMEA', '+49 89'),
        ('Torino', NULL, '10100', 'Italy', 'EMEA', '+39 011'), ('Milan', NULL, '20121', 'Italy', 'EMEA', '+39 02'),
        ('Oslo', NULL, '0106', 'Norway', 'EMEA', '+47 22'), ('Helsinki', NULL, '00180', 'Finland', 'EMEA', '+358 9'),
        ('Stockholm', NULL, '114 55', 'Sweden', 'EMEA', '+46 8'), ('Bruxelles', NULL, '1000', 'Belgium', 'EMEA', '+32 2'),
        ('Geneve', NULL, '1203', 'Switzerland', 'EMEA', '+41 22'), ('Dublin', 'Co. Dublin', 'D02 X285', 'Ireland', 'EMEA', '+353 1'),
        ('Tokyo', 'Tokyo', '106-0032', 'Japan', 'Japan', '+81 3'), ('Osaka', 'Osaka', '530-0003', 'Japan', 'Japan', '+81 6'),
        ('Melbourne', 'Victoria', '3004', 'Australia', 'APAC', '+61 3'), ('Sydney', 'NSW', '2060', 'Australia', 'APAC', '+61 2'),
        ('Auckland', NULL, '1010', 'New Zealand', 'APAC', '+64 9'), ('Singapore', NULL, '079903', 'Singapore', 'APAC', '+65'),
        ('Makati City', 'Metro Manila', '1227', 'Philippines', 'APAC', '+63 2')
    ) AS t(city, state, postal_code, country, territory, dial)
),
reps AS (
    SELECT o.territory, list(e.employee_number ORDER BY e.employee_number) AS rep_numbers
    FROM sales.employees AS e JOIN sales.offices AS o USING (office_code)
    WHERE e.job_title = 'Sales Rep'
    GROUP BY o.territory
),
people AS (
    SELECT i, i >= 100 AS prospect, roll(i, 'location', (SELECT count(*) FROM locations)) AS n,
           ['Atlantic', 'Baltic', 'Corner', 'Diecast', 'Euro+', 'Heritage', 'Alpine', 'Mini', 'Motor Mint',
            'Royal', 'Scale', 'Vintage'][1 + i % 12] AS name_first,
           ['Collectables', 'Gifts', 'Replicas', 'Models', 'Toys', 'Imports', 'Classics', 'Souvenirs', 'Traders',
            'Miniatures', 'Direct'][1 + (i // 12 + i) % 11] AS name_second
    FROM range(122) AS r(i)
)
SELECT customer_number(p.i) AS customer_number,
       p.name_first || ' ' || p.name_second || pick(['', '', '', ', Inc.', ' Ltd', ' Co.'], p.i, 'legal')
           AS customer_name,
       pick(['Berg', 'Schmitt', 'King', 'Ferguson', 'Labrune', 'Bergulfsen', 'Nelson', 'Piestrzeniewicz', 'Keitel',
             'Murphy', 'Lee', 'Freyre', 'Huxley', 'Koskitalo', 'Suominen', 'Tanaka'], p.i, 'last') AS contact_last_name,
       pick(['Carine', 'Jean', 'Peter', 'Janine', 'Jonas', 'Susan', 'Zbyszek', 'Roland', 'Julie', 'Kwai', 'Diego',
             'Adrian', 'Pirkko', 'Kalle', 'Akiko', 'Elizabeth'], p.i, 'first') AS contact_first_name,
       l.dial || ' 555 ' || lpad(CAST(roll(p.i, 'phone', 10000) AS VARCHAR), 4, '0') AS phone,
       (1 + roll(p.i, 'house', 250)) || ' ' || pick(['Main Street', 'Rue Royale', 'High Street', 'Kingsway',
           'Harbour Road', 'Via Roma', 'Calle Mayor', 'Elm Avenue', 'Market Square', 'Station Road'], p.i, 'street')
           AS address_line1,
       CASE WHEN roll(p.i, 'suite', 5) = 0 THEN 'Suite ' || (100 + roll(p.i, 'suite number', 400)) END AS address_line2,
       l.city, l.state, l.postal_code, l.country,
       CASE WHEN NOT p.prospect THEN pick(reps.rep_numbers, p.i, 'rep') END AS sales_rep_employee_number,
       CAST(CASE WHEN p.prospect THEN 0 ELSE 20000 + 100 * roll(p.i, 'credit', 1300) END AS DECIMAL(10, 2))
           AS credit_limit,
       getvariable('loaded_at') AS loaded_at
FROM people AS p JOIN locations AS l USING (n) JOIN reps USING (territory)
ORDER BY customer_number;

CREATE OR REPLACE TEMP TABLE lines AS
SELECT row_number() OVER (ORDER BY product_line) AS position, *
FROM (VALUES
    ('Classic Cars', 38, 1948, 40.0, 100.0,
     ['Ferrari Dino 246 GT', 'Chevy Corvette', 'Mercedes-Benz 300 SL', 'Ford Mustang', 'Dodge Charger',
      'Jaguar E-type', 'Porsche 911', 'Alfa Romeo GTA', 'Aston Martin DB5', 'Plymouth Barracuda', 'Pontiac GTO',
      'Shelby Cobra', 'Lamborghini Miura'], ['1:10', '1:12', '1:18', '1:24'],
     'Classic cars of the fifties to the eighties, with opening doors and detailed engines.'),
    ('Vintage Cars', 24, 1904, 20.0, 80.0,
     ['Ford Model T', 'Bugatti Type 35', 'Duesenberg SJ', 'Packard Twelve', 'Rolls-Royce Phantom', 'Mercedes SSK',
      'Chrysler Airflow', 'Cord 812', 'Bentley Speed Six', 'Pierce-Arrow', 'Hispano-Suiza H6', 'Auburn Speedster'],
     ['1:18', '1:24', '1:32'], 'Automobiles of the early twentieth century, hand-finished.'),
    ('Motorcycles', 13, 1936, 25.0, 80.0,
     ['Harley Davidson Ultimate Chopper', 'Ducati 900 Monster', 'Triumph Bonneville', 'BMW R75', 'Honda CB750',
      'Indian Chief', 'Norton Commando', 'Moto Guzzi V7', 'Kawasaki Z1', 'Vespa GS'], ['1:10', '1:12', '1:18'],
     'Motorcycles with working kickstands, steering and suspension.'),
    ('Planes', 12, 1927, 30.0, 75.0,
     ['Spirit of St. Louis', 'Spitfire Mk IX', 'P-51 Mustang', 'DC-3 Dakota', 'Corsair F4U', 'Lockheed Electra',
      'Junkers Ju 52', 'Boeing 707', 'Concorde', 'Boeing 747', 'Sopwith Camel', 'Piper J-3 Cub'],
     ['1:24', '1:72', '1:700'], 'Aircraft from the pioneers to the jet age, with display stands.'),
    ('Trucks and Buses', 11, 1940, 25.0, 85.0,
     ['Ford F-150', 'Mack B61', 'VW Bus', 'Greyhound Scenicruiser', 'Dodge Power Wagon', 'Peterbilt 379',
      'Routemaster Bus', 'GMC Handi-Bus'], ['1:12', '1:18', '1:24', '1:50'],
     'Trucks and buses with opening doors, rubber tires and detailed interiors.'),
    ('Ships', 9, NULL, 30.0, 70.0,
     ['HMS Bounty', 'RMS Titanic', 'USS Constitution', 'Cutty Sark', 'Mayflower', 'RMS Queen Mary', 'Pirate Ship',
      'Santa Maria', 'HMS Endeavour'], ['1:72', '1:700'], 'Sailing ships and liners with rigging and deck details.'),
    ('Trains', 3, NULL, 25.0, 70.0,
     ['Flying Scotsman', 'Orient Express', 'Union Pacific Big Boy'], ['1:32', '1:50'],
     'Locomotives and carriages in die-cast metal.')
) AS t(product_line, products, first_year, min_price, max_price, models, scales, description);

CREATE OR REPLACE TABLE sales.productlines AS
SELECT product_line, description AS text_description, CAST(NULL AS VARCHAR) AS html_description,
       CAST(NULL AS BLOB) AS image, getvariable('loaded_at') AS loaded_at
FROM lines
ORDER BY position;

-- 110 products; `k` (0..109) is the key order lines use to pick them.
CREATE OR REPLACE TEMP TABLE catalog AS
WITH items AS (
    SELECT row_number() OVER (ORDER BY position, j) - 1 AS k, *
    FROM (SELECT *, unnest(range(products)) AS j FROM lines)
),
priced AS (
    SELECT *, pick(scales, k, 'scale') AS product_scale,
           round(min_price + (max_price - min_price) * unit(k, 'buy price'), 2) AS buy
    FROM items
)
SELECT k,
       'S' || split_part(product_scale, ':', 2) || '_' || (1000 + (k * 7919) % 9000) AS product_code,
       coalesce((first_year + roll(j % len(models), 'year', 12) + 13 * (j // len(models))) || ' ', '')
           || models[1 + j % len(models)] AS product_name,
       product_line, product_scale,
       pick(['Autoart Studio Design', 'Carousel DieCast Legends', 'Classic Metal Creations', 'Exoto Designs',
             'Gearbox Collectibles', 'Highway 66 Mini Classics', 'Min Lin Diecast', 'Motor City Art Classics',
             'Red Start Diecast', 'Second Gear Diecast', 'Studio M Art Models', 'Unimax Art Galleries',
             'Welly Diecast Productions'], k, 'vendor') AS product_vendor,
       'This replica features ' || pick(['opening doors', 'a detailed engine', 'working steering',
           'rubber tires', 'chrome trim', 'a hand-painted finish', 'a display stand', 'poseable figures'], k, 'one')
           || ' and ' || pick(['official markings', 'a certificate of authenticity', 'a dust cover',
           'period-correct colours', 'a numbered base'], k, 'two') || '.' AS product_description,
       CAST(100 + roll(k, 'stock', 9800) AS SMALLINT) AS quantity_in_stock,
       CAST(buy AS DECIMAL(10, 2)) AS buy_price,
       CAST(round(buy * (1.45 + 0.5 * unit(k, 'markup')), 2) AS DECIMAL(10, 2)) AS msrp
FROM priced;

CREATE OR REPLACE TABLE sales.products AS
SELECT * EXCLUDE (k), getvariable('loaded_at') AS loaded_at FROM catalog ORDER BY product_code;

-- The order history: 32 to 36 orders a weekday, 16 to 20 a weekend day, 2 to 19 lines each.
CREATE OR REPLACE TEMP TABLE history AS
WITH days AS (
    SELECT CAST(getvariable('first_day') + CAST(i AS INTEGER) AS DATE) AS day FROM range(91) AS r(i)
)
SELECT CAST(10099 + row_number() OVER (ORDER BY day, slot) AS INTEGER) AS order_number, day AS order_date
FROM days, range(50) AS s(slot)
WHERE slot < CASE WHEN isodow(day) >= 6 THEN 16 ELSE 32 END + roll(day, 'orders', 5);

CREATE OR REPLACE TABLE sales.orders AS
WITH placed AS (
    SELECT order_number, order_date,
           order_date + 7 + roll(order_number, 'required', 4) AS required_date,
           order_date + 1 + roll(order_number, 'shipping', 6) AS ship_date,
           roll(order_number, 'status', 100) AS fate,
           customer_number(CAST(floor(100 * pow(unit(order_number, 'customer'), 1.6)) AS INTEGER))
               AS customer_number
    FROM history
    WHERE order_date <= getvariable('through')
),
tracked AS (
    SELECT *,
           CASE
               WHEN fate < 2 THEN 'Cancelled'
               WHEN ship_date > getvariable('through') THEN IF(fate < 5, 'On Hold', 'In Process')
               WHEN fate < 5 THEN 'Disputed'
               WHEN fate < 11 THEN 'Resolved'
               ELSE 'Shipped'
           END AS status
    FROM placed
)
SELECT order_number, order_date, required_date,
       CASE WHEN status IN ('Shipped', 'Resolved', 'Disputed') THEN ship_date END AS shipped_date,
       status,
       CASE status
           WHEN 'On Hold' THEN 'Customer credit limit exceeded. Will ship when a payment is received.'
           WHEN 'Cancelled' THEN 'Customer cancelled: the models are no longer needed.'
           WHEN 'Disputed' THEN 'Customer disputes the invoice; sales manager is reviewing the prices.'
           WHEN 'Resolved' THEN 'Dispute resolved with a 5% discount on the next order.'
           ELSE IF(fate >= 90, 'Customer requested that DHL is used for this shipment.', NULL)
       END AS comments,
       customer_number, getvariable('loaded_at') AS loaded_at
FROM tracked
ORDER BY order_number;

CREATE OR REPLACE TABLE sales.orderdetails AS
SELECT h.order_number, c.product_code,
       CAST(20 + roll([h.order_number, line], 'quantity', 31) AS INTEGER) AS quantity_ordered,
       CAST(round(c.msrp * (0.8 + 0.2 * unit([h.order_number, line], 'discount')), 2) AS DECIMAL(10, 2))
           AS price_each,
       CAST(line AS SMALLINT) AS order_line_number, getvariable('loaded_at') AS loaded_at
FROM history AS h, range(1, 20) AS l(line), catalog AS c
WHERE h.order_date <= getvariable('through')
  AND line <= 2 + roll(h.order_number, 'lines', 18)
  AND c.k = (roll(h.order_number, 'first product', 110) + 7 * line) % 110
ORDER BY h.order_number, line;

-- One payment per shipped order, a few days to a few weeks after shipping.
CREATE OR REPLACE TABLE sales.payments AS
WITH invoiced AS (
    SELECT o.order_number, o.customer_number,
           o.shipped_date + 3 + roll(o.order_number, 'payment', 25) AS payment_date,
           sum(d.quantity_ordered * d.price_each) AS amount,
           hash(o.order_number, 'check') AS h
    FROM sales.orders AS o JOIN sales.orderdetails AS d USING (order_number)
    WHERE o.shipped_date IS NOT NULL
    GROUP BY ALL
)
SELECT customer_number,
       chr(CAST(65 + h % 26 AS INTEGER)) || chr(CAST(65 + h // 26 % 26 AS INTEGER))
           || lpad(CAST(h // 676 % 1000000 AS VARCHAR), 6, '0') AS check_number,
       payment_date, CAST(amount AS DECIMAL(10, 2)) AS amount, getvariable('loaded_at') AS loaded_at
FROM invoiced
WHERE payment_date <= getvariable('through')
ORDER BY payment_date, customer_number;

-- analytics: the star schema built from sales ----------------------------------------------------

CREATE OR REPLACE TABLE analytics.dim_locations AS
SELECT CAST(row_number() OVER (ORDER BY country, city, state NULLS FIRST) AS INTEGER) AS location_id,
       city, state, country,
       getvariable('built_at') AS loaded_at
FROM (SELECT city, state, country FROM sales.customers UNION SELECT city, state, country FROM sales.offices)
ORDER BY location_id;

CREATE OR REPLACE TABLE analytics.dim_customers AS
SELECT c.customer_number AS customer_id, c.customer_name,
       c.contact_first_name || ' ' || c.contact_last_name AS contact_name, c.phone, c.city, c.country,
       l.location_id, c.credit_limit, e.first_name || ' ' || e.last_name AS sales_rep,
       getvariable('built_at') AS loaded_at
FROM sales.customers AS c
JOIN analytics.dim_locations AS l
  ON l.city = c.city AND l.country = c.country AND l.state IS NOT DISTINCT FROM c.state
LEFT JOIN sales.employees AS e ON e.employee_number = c.sales_rep_employee_number
ORDER BY customer_id;

CREATE OR REPLACE TABLE analytics.dim_products AS
SELECT product_code, product_name, product_line, product_scale, product_vendor, buy_price, msrp,
       getvariable('built_at') AS loaded_at
FROM sales.products
ORDER BY product_code;

CREATE OR REPLACE TABLE analytics.fact_orders AS
SELECT o.order_number, CAST(d.order_line_number AS INTEGER) AS order_line, o.customer_number AS customer_id,
       d.product_code, d.quantity_ordered AS quantity, d.price_each, o.order_date,
       CAST(getvariable('built_at') AS TIMESTAMPTZ) AS loaded_at,
       lower(regexp_replace(c.contact_first_name || '.' || c.contact_last_name, '[^A-Za-z.]', '', 'g')) || '@'
           || lower(regexp_replace(c.customer_name, '[^A-Za-z0-9]', '', 'g')) || '.example' AS customer_email
FROM sales.orders AS o
JOIN sales.orderdetails AS d USING (order_number)
JOIN sales.customers AS c USING (customer_number)
WHERE o.status <> 'Cancelled'
ORDER BY o.order_number, order_line;

CREATE OR REPLACE TABLE analytics.daily_revenue AS
SELECT order_date, count(DISTINCT order_number) AS orders, count(*) AS order_lines,
       CAST(sum(quantity * price_each) AS DECIMAL(14, 2)) AS revenue, getvariable('built_at') AS loaded_at
FROM analytics.fact_orders
GROUP BY order_date
ORDER BY order_date;
