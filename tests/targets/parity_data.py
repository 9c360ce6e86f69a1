"""The parity workload every target replays, and the table state it leaves, written out by hand."""
import datetime
from decimal import Decimal

from bson.decimal128 import Decimal128

PARITY_DDL = [
    "CREATE TABLE orders (id INT PRIMARY KEY, name VARCHAR(50), amount DECIMAL(30,10), qty INT UNSIGNED, "
    "at DATETIME)",
    "CREATE TABLE order_lines (order_id INT, line INT, sku VARCHAR(20), PRIMARY KEY (order_id, line))",
]
PARITY_DML = [
    "INSERT INTO orders VALUES (1,'a',1.5,1,'2024-01-01 10:00:00'),(2,'b',-2.25,2,'2024-01-02 10:00:00'),"
    "(3,'c',3,3,NULL),(4,'d',4,4,NULL)",
    "UPDATE orders SET name='a2', amount=amount*3 WHERE id=1",
    "UPDATE orders SET id=20 WHERE id=2",  # primary key change
    "DELETE FROM orders WHERE id=3",
    "BEGIN", "UPDATE orders SET qty=40 WHERE id=4", "UPDATE orders SET qty=41 WHERE id=4",
    "INSERT INTO orders VALUES (5,'e',5,5,NULL)", "DELETE FROM orders WHERE id=5", "COMMIT",
    "INSERT INTO order_lines VALUES (1,1,'x'),(1,2,'y'),(2,1,'z')",
    "UPDATE order_lines SET line=3 WHERE order_id=1 AND line=2",
    "DELETE FROM order_lines WHERE order_id=2",
]
# Row changes PARITY_DML[:4] makes (4 inserts, 2 updates, 1 delete), and all of PARITY_DML (then 2 updates,
# 1 insert and 1 delete in one transaction; 3 inserts, 1 update, 1 delete of order_lines).
PARITY_CHANGES_FIRST_4 = 7
PARITY_CHANGES = 16

# The source after PARITY_DML, as pymysql reads it (ordered by key).
ORDERS = [
    {"id": 1, "name": "a2", "amount": Decimal("4.5000000000"), "qty": 1, "at": datetime.datetime(2024, 1, 1, 10, 0)},
    {"id": 4, "name": "d", "amount": Decimal("4.0000000000"), "qty": 41, "at": None},
    {"id": 20, "name": "b", "amount": Decimal("-2.2500000000"), "qty": 2, "at": datetime.datetime(2024, 1, 2, 10, 0)},
]
ORDER_LINES = [
    {"order_id": 1, "line": 1, "sku": "x"},
    {"order_id": 1, "line": 3, "sku": "y"},
]

# The same state in the JSON the message-queue targets carry ({key tuple: row}, as mq_helpers.apply_canal
# builds it).
ORDERS_JSON = {
    (1,): {"id": 1, "name": "a2", "amount": "4.5000000000", "qty": 1, "at": "2024-01-01T10:00:00"},
    (4,): {"id": 4, "name": "d", "amount": "4.0000000000", "qty": 41, "at": None},
    (20,): {"id": 20, "name": "b", "amount": "-2.2500000000", "qty": 2, "at": "2024-01-02T10:00:00"},
}
ORDER_LINES_JSON = {
    (1, 1): {"order_id": 1, "line": 1, "sku": "x"},
    (1, 3): {"order_id": 1, "line": 3, "sku": "y"},
}

# ... and as MongoDB documents.
ORDERS_MONGO = [
    {"_id": 1, "id": 1, "name": "a2", "amount": Decimal128("4.5000000000"), "qty": 1, "at": "2024-01-01T10:00:00"},
    {"_id": 4, "id": 4, "name": "d", "amount": Decimal128("4.0000000000"), "qty": 41, "at": None},
    {"_id": 20, "id": 20, "name": "b", "amount": Decimal128("-2.2500000000"), "qty": 2, "at": "2024-01-02T10:00:00"},
]
ORDER_LINES_MONGO = [
    {"_id": {"order_id": 1, "line": 1}, "order_id": 1, "line": 1, "sku": "x"},
    {"_id": {"order_id": 1, "line": 3}, "order_id": 1, "line": 3, "sku": "y"},
]
